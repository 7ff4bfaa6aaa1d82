"""Knowledge given to a model trained without it, and names close to the known ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import calmflow_sc.model._prompting as prompting_file
from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.nn import UnknownComponentError
from helpers import TINY_MODEL, gen_adata, setup, trained_model

CONDITIONS = ("control", "IFNB", "TNF", "IFNGR2", "IFNB+TNF")
TRAINED = ["IFNB", "TNF", "IFNGR2"]
#: one direction per trained gene; IL2 copies IFNB's and IL7 TNF's
EMBEDDINGS = pd.DataFrame(np.eye(3, 4) * 2.0 + 0.5, index=TRAINED)


def embeddings_with_new_genes() -> pd.DataFrame:
    new = EMBEDDINGS.loc[["IFNB", "TNF"]].set_axis(["IL2", "IL7"])
    return pd.concat([EMBEDDINGS, new])


@pytest.fixture(scope="module")
def bare():
    """A tiny components model trained without descriptions or embeddings."""
    adata = gen_adata(n_cells=300, conditions=CONDITIONS)
    setup(adata)
    torch.manual_seed(0)
    model = trained_model(adata, max_epochs=3)
    controls = adata[adata.obs["condition"] == "control"].copy()
    return model, controls


def _mean(model, controls, perturbation) -> np.ndarray:
    predicted = model.predict(controls, perturbation, inplace=False, seed=3)
    return np.asarray(predicted.X.mean(0)).ravel()


def _predictions(model, controls) -> dict[str, np.ndarray]:
    """Every trained perturbation's predicted expression, with a fixed seed."""
    return {
        p: np.asarray(model.predict(controls, p, inplace=False, seed=3).X)
        for p in [*TRAINED, "IFNB+TNF"]
    }


def test_knowledge_after_training_places_new_genes_and_leaves_trained_ones(bare, tmp_path):
    model, controls = bare
    assert model.module.knowledge.dim == 0
    before = _predictions(model, controls)
    with pytest.raises(UnknownComponentError, match="add_perturbation_knowledge"):
        model.predict(controls, "IL2", inplace=False)

    added = model.add_perturbation_knowledge(embeddings=embeddings_with_new_genes())
    assert added == [*TRAINED, "IL2", "IL7"]
    assert model.module.knowledge.embedding_dim == 4

    # trained perturbations are read from their learned codes: bit-identical
    after = _predictions(model, controls)
    for perturbation, expression in before.items():
        np.testing.assert_array_equal(expression, after[perturbation], err_msg=perturbation)

    # a new gene is predicted like the trained gene whose knowledge it copies
    means = {p: _mean(model, controls, p) for p in ["IL2", "IL7", *TRAINED]}
    assert all(np.isfinite(m).all() for m in means.values())
    for new, twin in [("IL2", "IFNB"), ("IL7", "TNF")]:
        distances = {p: np.linalg.norm(means[new] - means[p]) for p in TRAINED}
        others = min(d for p, d in distances.items() if p != twin)
        assert distances[twin] < 0.1 * others, (new, distances)

    # the knowledge travels with the weights
    model.save(tmp_path / "m")
    loaded = CaLMFlowPerturb.load(tmp_path / "m")
    assert loaded.module.knowledge.names == model.module.knowledge.names
    assert loaded.module.knowledge.embedding_dim == 4
    np.testing.assert_array_equal(_mean(loaded, controls, "IL2"), means["IL2"])
    reloaded = _predictions(loaded, controls)
    for perturbation, expression in before.items():
        np.testing.assert_array_equal(expression, reloaded[perturbation], err_msg=perturbation)

    # later embeddings must have the width of the first
    with pytest.raises(ValueError, match="3 dimensions; this model's have 4"):
        model.add_perturbation_knowledge(embeddings={"IL21": [1.0, 2.0, 3.0]})
    assert "IL21" not in model.module.knowledge


def test_knowledge_of_no_trained_component_is_refused_with_the_fix():
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with pytest.raises(ValueError, match=r"names a trained component.*IFNB"):
        model.add_perturbation_knowledge(embeddings={"IL2": [1.0, 0.0], "IL7": [0.0, 1.0]})
    with pytest.raises(ValueError, match="perturbation_descriptions given names"):
        model.add_perturbation_knowledge(descriptions={"IL2": "interleukin 2"})
    assert len(model.module.knowledge) == 0 and model.module.knowledge.dim == 0
    # the refusal left the model free to take any width
    model.add_perturbation_knowledge(embeddings={"IFNB": [1.0, 0.0, 0.0], "IL2": [1.0, 0.1, 0]})
    assert model.module.knowledge.embedding_dim == 3


def test_descriptions_after_training_open_their_own_block(monkeypatch):
    def fake_minilm():
        def encode(texts):
            return torch.stack([torch.tensor([len(t), t.count("i"), 1.0]) for t in texts])

        return encode

    monkeypatch.setattr(prompting_file, "load_minilm", fake_minilm)
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(adata, perturbation_embeddings=EMBEDDINGS, **TINY_MODEL)
    knowledge = model.module.knowledge
    before = knowledge.lookup(TRAINED).clone()
    model.add_perturbation_knowledge(
        descriptions={"IFNB": "interferon beta", "TNF": "tumour necrosis factor", "IL2": "il 2"}
    )
    assert (knowledge.embedding_dim, knowledge.description_dim) == (4, 3)
    # the embedding block is unchanged; IFNGR2, undescribed, has zeros in the new block
    torch.testing.assert_close(knowledge.lookup(TRAINED)[:, :4], before, rtol=0, atol=0)
    assert torch.all(knowledge.lookup(["IFNGR2"])[0, 4:] == 0)
    soft = model.condition_prompts.perturbation_features(["IL2"])[0]
    assert soft[: model.condition_prompts.n_codes].sum().item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("typo", "hint"),
    [
        ("IFGNR2", "Did you mean 'IFNGR2' for 'IFGNR2'?"),
        ("ifngr2", "Did you mean 'IFNGR2' for 'ifngr2'?"),
        ("IFNGR2+TFN", "Did you mean 'TNF' for 'TFN'?"),
    ],
)
def test_a_misspelled_component_gets_close_matches(bare, typo, hint):
    model, controls = bare
    with pytest.raises(UnknownComponentError) as raised:
        model.predict(controls, perturbation=typo, inplace=False)
    assert hint in str(raised.value)
    assert "calmflow" not in controls.layers


def test_close_matches_cover_described_components_and_stay_quiet_without_any():
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(
        adata, perturbation_embeddings=embeddings_with_new_genes(), **TINY_MODEL
    )
    encoder = model.condition_prompts
    assert encoder.close_matches("IFGNR2")[0] == "IFNGR2"
    assert encoder.close_matches("Il-7") == ["IL7"]  # described, never measured
    assert encoder.close_matches("IL7") == []  # known names are no typos of themselves
    assert encoder.close_matches("XYZ123") == []
    assert encoder.spelling_hint(["XYZ123"]) == ""
