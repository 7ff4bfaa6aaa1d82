"""Prior knowledge of perturbation components: checks, scaling, additions, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from calmflow_sc.data._prompts import check_descriptions
from calmflow_sc.nn import ComponentKnowledge, UnknownComponentError
from calmflow_sc.nn._component_knowledge import as_embedding_frame


def fake_encoder():
    """A deterministic stand-in for the sentence encoder: text length and vowel counts."""

    def encode(texts: list[str]) -> torch.Tensor:
        return torch.tensor(
            [[len(t), t.count("a"), t.count("e"), t.count("o")] for t in texts], dtype=torch.float
        )

    return encode


def embeddings(names, dim=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(len(names), dim)), index=names)


def test_embeddings_are_centred_and_scaled_on_the_components_given_first():
    frame = embeddings(["A", "B", "C"])
    knowledge = ComponentKnowledge.build(embeddings=as_embedding_frame(frame))
    vectors = knowledge.lookup(["A", "B", "C"])
    assert torch.allclose(vectors.mean(0), torch.zeros(3), atol=1e-6)
    assert vectors.norm(dim=1).mean().item() == pytest.approx(1.0, rel=1e-5)
    # a component added later is on the same scale: re-adding A gives A's vector
    knowledge.add(embeddings=as_embedding_frame(frame.loc[["A"]].rename(index={"A": "D"})))
    assert torch.allclose(knowledge.lookup(["D"]), knowledge.lookup(["A"]))
    assert knowledge.names == ["A", "B", "C", "D"]


def test_both_sources_fill_their_own_block_and_a_missing_block_stays_zero():
    frame = as_embedding_frame(embeddings(["A", "B"], dim=2))
    knowledge = ComponentKnowledge.build(
        {"B": "beta", "C": "gamma ray"}, frame, encode_texts=fake_encoder
    )
    assert knowledge.dim == 2 + 4
    assert set(knowledge.names) == {"A", "B", "C"}
    a, c = knowledge.lookup(["A", "C"])
    assert torch.all(a[2:] == 0) and torch.any(a[:2] != 0)
    assert torch.all(c[:2] == 0) and torch.any(c[2:] != 0)


def test_a_new_description_replaces_the_old_and_keeps_the_embedding():
    frame = as_embedding_frame(embeddings(["A"], dim=2))
    knowledge = ComponentKnowledge.build({"A": "alpha", "B": "beta"}, frame, fake_encoder)
    before = knowledge.lookup(["A"])[0]
    knowledge.add({"A": "a much longer alpha text"}, encode_texts=fake_encoder)
    after = knowledge.lookup(["A"])[0]
    assert torch.equal(before[:2], after[:2])
    assert not torch.equal(before[2:], after[2:])
    assert len(knowledge) == 2


def test_unknown_names_are_refused():
    knowledge = ComponentKnowledge.build(embeddings=as_embedding_frame(embeddings(["A"])))
    with pytest.raises(UnknownComponentError, match="'Z'"):
        knowledge.lookup(["A", "Z"])
    assert "A" in knowledge and "Z" not in knowledge


def test_additions_must_have_the_width_of_the_knowledge_held():
    knowledge = ComponentKnowledge.build(embeddings=as_embedding_frame(embeddings(["A"])))
    with pytest.raises(ValueError, match="2 dimensions; this model's have 3"):
        knowledge.add(embeddings=as_embedding_frame(embeddings(["B"], dim=2)))
    assert knowledge.names == ["A"]


def test_a_kind_given_later_opens_its_block_on_the_scale_of_what_it_is_given():
    frame = as_embedding_frame(embeddings(["A", "B"]))
    knowledge = ComponentKnowledge.build(embeddings=frame)
    before = knowledge.lookup(["A", "B"])
    knowledge.add({"B": "beta", "C": "gamma ray", "D": "delta"}, encode_texts=fake_encoder)
    assert (knowledge.embedding_dim, knowledge.description_dim) == (3, 4)
    assert knowledge.block_dims.tolist() == [3, 4] and knowledge.centers.shape == (7,)
    a, b, c, d = knowledge.lookup(["A", "B", "C", "D"])
    assert torch.equal(a[:3], before[0]) and torch.all(a[3:] == 0)
    assert torch.equal(b[:3], before[1])
    descriptions = torch.stack([b[3:], c[3:], d[3:]])
    assert torch.allclose(descriptions.mean(0), torch.zeros(4), atol=1e-6)
    assert descriptions.norm(dim=1).mean().item() == pytest.approx(1.0, rel=1e-5)
    # the same as knowledge built with both kinds from the start, for the description block
    both = ComponentKnowledge.build(
        {"B": "beta", "C": "gamma ray", "D": "delta"}, frame, fake_encoder
    )
    assert torch.equal(both.lookup(["B", "C", "D"]), knowledge.lookup(["B", "C", "D"]))
    # and it round-trips through the state dict, then takes embeddings at the opened width
    state = {f"knowledge.{k}": v.clone() for k, v in knowledge.state_dict().items()}
    restored = ComponentKnowledge.from_state_dict(state, "knowledge.")
    assert (restored.embedding_dim, restored.description_dim) == (3, 4)
    assert torch.equal(restored.lookup(knowledge.names), knowledge.lookup(knowledge.names))
    with pytest.raises(ValueError, match="5 dimensions; this model's have 4"):
        restored.add({"E": "epsilon"}, encode_texts=lambda: lambda texts: torch.ones(1, 5))


def test_empty_knowledge_takes_any_width_first_and_then_only_that_width():
    knowledge = ComponentKnowledge()
    assert knowledge.add() == [] and knowledge.dim == 0
    assert knowledge.add(embeddings=as_embedding_frame(embeddings(["A", "B"], dim=5))) == [
        "A",
        "B",
    ]
    assert knowledge.dim == 5 and knowledge.lookup(["A", "B"]).shape == (2, 5)
    with pytest.raises(ValueError, match="3 dimensions; this model's have 5"):
        knowledge.add(embeddings=as_embedding_frame(embeddings(["C"])))


def test_the_state_dict_carries_names_vectors_and_scales():
    knowledge = ComponentKnowledge.build(
        {"B": "beta", "C": "gamma"}, as_embedding_frame(embeddings(["A", "B"])), fake_encoder
    )
    state = {f"knowledge.{k}": v.clone() for k, v in knowledge.state_dict().items()}
    restored = ComponentKnowledge.from_state_dict(state, "knowledge.")
    assert restored.names == knowledge.names
    assert (restored.embedding_dim, restored.description_dim) == (3, 4)
    assert torch.equal(restored.lookup(knowledge.names), knowledge.lookup(knowledge.names))
    # what is added after restoring is scaled as before
    restored.add({"D": "delta"}, encode_texts=fake_encoder)
    knowledge.add({"D": "delta"}, encode_texts=fake_encoder)
    assert torch.allclose(restored.lookup(["D"]), knowledge.lookup(["D"]))


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ([1, 2], TypeError, "mapping from component name"),
        ({"A": [1, 2], "B": [1]}, ValueError, "different lengths"),
        ({"A": [1.0, np.nan]}, ValueError, "not all finite"),
        (pd.DataFrame([[1.0], [2.0]], index=["A", "A"]), ValueError, "more than once"),
        (pd.DataFrame([["x"]], index=["A"]), TypeError, "numbers only"),
        (pd.DataFrame(index=["A"]), ValueError, "empty"),
        (pd.DataFrame([[1.0]], index=[" "]), ValueError, "empty component name"),
    ],
)
def test_bad_embeddings_get_clear_errors(value, error, match):
    with pytest.raises(error, match=match):
        as_embedding_frame(value)


def test_mapping_embeddings_become_a_frame():
    frame = as_embedding_frame({"A": [1, 2], "B": np.array([3.0, 4.0])})
    assert frame.index.tolist() == ["A", "B"] and frame.dtypes.iloc[0] == np.float32


def test_bad_descriptions_get_clear_errors():
    with pytest.raises(TypeError, match="map component names"):
        check_descriptions(["A"])
    with pytest.raises(ValueError, match="non-empty text"):
        check_descriptions({"A": "  "})


def test_as_if_unmeasured_codes_drop_a_singles_code_and_a_pairs_first_component():
    from calmflow_sc.data import PromptBuilder
    from calmflow_sc.nn import ConditionPromptEncoder

    builder = PromptBuilder(perturbation_key="condition", control_value="control")
    encoder = ConditionPromptEncoder(
        "components", builder, None, {}, ["control", "A", "B", "A+B", "C+B"]
    )
    masks = encoder.as_if_unmeasured_codes(["control", "A", "A+B", "B+A", "C+B", "NEW"])
    names = encoder.trained_components  # A, B, C
    lost = [[{names[i] for i in row.nonzero().ravel().tolist()} for row in m] for m in masks]
    assert lost[0] == [set(), {"A"}, set(), set(), set(), set()]
    assert lost[1] == [set(), {"A"}, {"A"}, {"B"}, {"C"}, set()]
