"""Perturbations composed of components: order, knowledge of unmeasured ones, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import calmflow_sc.model._model as model_file
from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.nn import UnknownComponentError
from helpers import TINY_MODEL, gen_adata, setup, trained_model

CONDITIONS = ("control", "IFNB", "TNF", "IFNB+TNF")


def gene_vectors(names, dim=6, seed=1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(len(names), dim)), index=list(names))


@pytest.fixture(scope="module")
def composed():
    """A tiny components model that knows IL2 (never measured) from its embedding."""
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    torch.manual_seed(0)
    model = trained_model(
        adata,
        prompt_encoder="components",
        perturbation_embeddings=gene_vectors(["IFNB", "TNF", "IL2"]),
    )
    controls = adata[adata.obs["condition"] == "control"].copy()
    return model, controls


def test_a_combination_is_the_same_input_whatever_its_order(composed):
    model, controls = composed
    encoder = model.condition_prompts
    features = encoder.perturbation_features(["IFNB+TNF", "TNF+IFNB", "IFNB", "TNF"])
    assert torch.equal(features[0], features[1])
    n_codes = encoder.n_codes
    # codes are sums over the components; the count says how many
    assert torch.allclose(features[0, :n_codes], features[2, :n_codes] + features[3, :n_codes])
    assert features[0, n_codes].item() == 2.0 and features[2, n_codes].item() == 1.0
    first = model.predict(controls, "IFNB+IL2", inplace=False)
    second = model.predict(controls, "IL2+IFNB", inplace=False)
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.obsm["X_calmflow"], second.obsm["X_calmflow"])


def test_an_unmeasured_component_is_a_mixture_of_the_trained_ones(composed):
    model, controls = composed
    encoder = model.condition_prompts
    features = encoder.perturbation_features(["IL2", "IL2+TNF", "TNF"])
    soft = features[0, : encoder.n_codes]
    weights = encoder.neighbours("IL2")
    assert torch.equal(soft, weights)
    assert torch.all(soft > 0) and soft.sum().item() == pytest.approx(1.0)
    # a pair with it adds the partner's own code; the count says two components
    assert torch.allclose(features[1, : encoder.n_codes], soft + features[2, : encoder.n_codes])
    assert features[1, encoder.n_codes].item() == 2.0
    predicted = model.predict(controls, "IL2", inplace=False)
    assert np.isfinite(predicted.X).all()
    assert not np.allclose(predicted.X, controls.X.toarray())
    generated = model.generate(
        pd.DataFrame({"condition": ["IL2", "IL2+TNF"], "cell_type": ["T cell", "B cell"]})
    )
    assert np.isfinite(generated.X).all()


def test_a_trained_component_is_not_its_own_neighbour(composed):
    model, _ = composed
    encoder = model.condition_prompts
    weights = encoder.neighbours("IFNB")
    assert weights[encoder.trained_components.index("IFNB")] == 0
    assert weights.sum().item() == pytest.approx(1.0)
    assert torch.all(encoder.neighbours("UNKNOWN") == 0)


def test_an_unknown_component_is_named_with_the_fix(composed):
    model, controls = composed
    with pytest.raises(UnknownComponentError, match=r"\['IL7'\].*add_perturbation_knowledge"):
        model.predict(controls, "IL7+TNF", inplace=False)
    with pytest.raises(UnknownComponentError, match="IL7"):
        model.generate(pd.DataFrame({"condition": ["IL7"], "cell_type": ["T cell"]}))
    assert "calmflow" not in controls.layers  # refused before any output


def test_knowledge_added_after_training_is_used_and_saved(composed, tmp_path, monkeypatch):
    model, controls = composed
    added = model.add_perturbation_knowledge(embeddings={"IL21": np.arange(6.0)})
    assert added == ["IL21"]
    before = model.predict(controls, "IL21", inplace=False, seed=3)
    model.save(tmp_path / "m")

    def offline(*args, **kwargs):
        raise AssertionError("loading must not need the sentence encoder or the embeddings")

    monkeypatch.setattr(model_file, "load_minilm", offline)
    loaded = CaLMFlowPerturb.load(tmp_path / "m")
    assert loaded.module.knowledge.names == model.module.knowledge.names
    after = loaded.predict(controls, "IL21", inplace=False, seed=3)
    np.testing.assert_array_equal(before.X, after.X)
    # the embeddings are in the weights, not in the JSON of the arguments
    assert loaded.init_params_["non_kwargs"]["perturbation_embeddings"] is None


def test_descriptions_reach_the_knowledge_and_a_model_without_knowledge_says_how():
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(
        adata,
        prompt_encoder="components",
        perturbation_descriptions={"IFNB": "interferon beta", "IL2": "interleukin 2"},
        **TINY_MODEL,
    )
    knowledge = model.module.knowledge
    assert knowledge.description_dim == 384 and set(knowledge.names) == {"IFNB", "IL2"}
    bare = CaLMFlowPerturb(adata, prompt_encoder="components", **TINY_MODEL)
    with pytest.raises(UnknownComponentError, match="holds no perturbation_descriptions"):
        bare.condition_prompts.check_components(["IL2"])
    # knowledge after training must describe trained components too, to compare with
    with pytest.raises(ValueError, match="names a trained component"):
        bare.add_perturbation_knowledge(descriptions={"IL2": "interleukin 2"})


def test_without_described_trained_components_an_unmeasured_one_cannot_be_placed():
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(
        adata,
        prompt_encoder="components",
        perturbation_embeddings={"IL2": [1.0, 0.0], "IL7": [-1.0, 0.0]},
        **TINY_MODEL,
    )
    with pytest.raises(UnknownComponentError, match="Describe the trained components too"):
        model.condition_prompts.perturbation_features(["IL2"])
    model.add_perturbation_knowledge(embeddings={"IFNB": [1.0, 0.1], "TNF": [-1.0, 0.0]})
    soft = model.condition_prompts.perturbation_features(["IL2"])[0]
    codes = dict(zip(model.condition_prompts.trained_components, soft.tolist(), strict=False))
    assert codes["IFNB"] > 0.99  # IL2 points the way IFNB does


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"prompt_encoder": "lm", "perturbation_embeddings": {"IFNB": [1.0]}},
            "prompt_encoder='components' only",
        ),
    ],
)
def test_bad_component_arguments_are_refused(kwargs, match):
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    with pytest.raises(ValueError, match=match):
        CaLMFlowPerturb(adata, **TINY_MODEL, **kwargs)


def test_a_save_from_before_component_knowledge_still_loads():
    adata = gen_adata(conditions=CONDITIONS)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    state = {k: v for k, v in model.module.state_dict().items() if not k.startswith("knowledge.")}
    model.module.load_state_dict(state)
    assert len(model.module.knowledge) == 0


def test_prompts_show_the_context_text_and_the_components(composed):
    model, controls = composed
    prompts = model.prompts(controls.obs.head(2), perturbation="TNF+IFNB")
    assert prompts.iloc[0].endswith("under the perturbation that follows: [IFNB+TNF]")
