"""A model anchored to the prior effects of its conditions, and the support it records."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import torch

import calmflow_sc as cfs
from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.module import next_state
from calmflow_sc.module._prior import training_prompts
from helpers import TINY_MODEL, gen_adata, setup, trained_model

CONDITIONS = ("control", "IFNB", "TNF", "IL4", "IFNB+TNF")
#: IL2 is like IFNB, XYZ like nothing measured
EMBEDDINGS = pd.DataFrame(
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.1, 0.0], [-1.0, -1.0, -1.0]],
    index=["IFNB", "TNF", "IL4", "IL2", "XYZ"],
)


@pytest.fixture(scope="module")
def anchored():
    adata = gen_adata(n_cells=300, conditions=CONDITIONS)
    setup(adata)
    torch.manual_seed(0)
    model = trained_model(
        adata, max_epochs=3, condition_prior=True, perturbation_embeddings=EMBEDDINGS
    )
    controls = adata[adata.obs["condition"] == "control"].copy()
    return model, adata, controls


def test_prior_needs_component_codes():
    adata = gen_adata(n_cells=60, conditions=CONDITIONS)
    setup(adata)
    with pytest.raises(ValueError, match="prompt_encoder='components'"):
        CaLMFlowPerturb(adata, condition_prior=True, prompt_encoder="onehot", **TINY_MODEL)


def test_training_stores_effects_and_the_prompt_table_reads_the_priors(anchored):
    model, _, _ = anchored
    module = model.module
    prior = module.condition_prior
    assert prior.is_fitted
    n = prior.n_features
    torch.testing.assert_close(module.prompt_inputs[:, -n:], prior.table_features())
    # each flow's velocity adds its prior effect to what the network decodes
    torch.manual_seed(0)
    hidden = torch.randn(3, 1, module.n_spatial_tokens, module.backbone.hidden_size)
    current = torch.zeros(3, 1, module.n_components)
    offset = torch.randn(3, module.n_components)
    plain, _ = next_state(module, hidden, current, temperature=0.0)
    moved, _ = next_state(module, hidden, current, temperature=0.0, offset=offset)
    torch.testing.assert_close(moved - plain, offset[:, None] / module.n_steps)


def test_training_reads_conditions_as_measured_or_as_if_unmeasured(anchored):
    model, _, _ = anchored
    module = model.module
    prior = module.condition_prior
    n_rows = len(module.prompt_inputs)
    inputs, _, rows = training_prompts(module, torch.arange(3 * n_rows))
    read = inputs[rows]
    torch.testing.assert_close(read[:n_rows], module.prompt_inputs)
    n = prior.n_features
    table = model.condition_space.table()["condition"].tolist()
    codes = slice(-module.n_perturbation_features, -n - 1)
    names = model.condition_prompts.trained_components
    for variant, priors in ((1, prior.priors), (2, prior.partial_priors)):
        as_if = read[variant * n_rows : (variant + 1) * n_rows]
        torch.testing.assert_close(as_if[:, -n:], priors)
        text = slice(0, -module.n_perturbation_features)  # the context's tokens stay
        torch.testing.assert_close(as_if[:, text], module.prompt_inputs[:, text])
        for row, perturbation in enumerate(table):
            kept = {names[i] for i in torch.nonzero(as_if[row, codes]).ravel().tolist()}
            parts = perturbation.split("+") if perturbation != "control" else []
            lost = parts if len(parts) == 1 else parts[:1] if variant == 2 else []
            assert kept == set(parts) - set(lost), (variant, perturbation)
    # the partial variant of a measured pair: its first component from knowledge
    row = table.index("IFNB+TNF")
    kinds = prior.partial_priors[:, prior.n_components + 1 :]
    assert kinds[row].argmax() in (3, 4)  # "knowledge" or "mean"
    assert prior.priors[row, prior.n_components + 1 :].argmax() in (1, 2)  # context, pair


def test_predict_records_support_and_warns_about_low_support(anchored):
    model, _, controls = anchored
    model.predict(controls, "IFNB+TNF", key_added="seen")  # measured in every cell type
    assert set(controls.uns["seen_params"]["support"]["kind"]) == {"measured"}
    model.predict(controls, "TNF+IL4", key_added="pair")  # never measured
    record = controls.uns["pair_params"]["support"]
    assert set(record["kind"]) == {"combination"}
    assert record["support"] == [1.0] * len(record["kind"])
    model.predict(controls, "IL2", key_added="il2")
    record = controls.uns["il2_params"]["support"]
    assert set(record["kind"]) == {"knowledge"}
    assert min(record["support"]) > 0.9
    assert record["neighbours"][0].startswith("IL2: IFNB")
    with pytest.warns(UserWarning, match=r"low support.*XYZ"):
        model.predict(controls, "XYZ", key_added="xyz")
    table = cfs.pl.support_table(controls, ["pair", "il2", "xyz"])
    assert list(table["key"].unique()) == ["pair", "il2", "xyz"]
    assert np.isfinite(table["predicted_shift"]).all()
    ax = cfs.pl.prior_support(controls, ["pair", "il2", "xyz"], show=False)
    assert len(ax.collections) >= 3  # priors and two kinds
    with pytest.raises(KeyError, match="condition_prior=True"):
        cfs.pl.support_table(controls, "missing")


def test_saved_prior_predicts_the_same(anchored, tmp_path):
    model, adata, controls = anchored
    before = model.predict(controls, "IL2", inplace=False, seed=2).X
    model.save(tmp_path / "m")
    loaded = CaLMFlowPerturb.load(tmp_path / "m", adata=adata)
    torch.testing.assert_close(loaded.module.prompt_inputs, model.module.prompt_inputs)
    after = loaded.predict(controls, "IL2", inplace=False, seed=2).X
    np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
