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
from calmflow_sc.module._prior import training_prompts, without_codes
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
    prior = model.module.condition_prior
    assert prior.is_fitted
    n = prior.n_features
    torch.testing.assert_close(model.module.prompt_inputs[:, -n:], prior.priors)
    # the flows start from the controls moved by the prior
    shift = model.module.prior_shift(model.module.prompt_inputs)
    torch.testing.assert_close(shift, prior.priors[:, : model.module.n_components])


def test_training_reads_some_singles_without_their_codes(anchored):
    model, _, _ = anchored
    module = model.module
    singles = torch.nonzero(module.single_rows).ravel()
    pairs = torch.nonzero(~module.single_rows & (module.condition_prior.counts > 0)).ravel()
    condition = torch.cat([singles.repeat(50), pairs.repeat(50)])
    module.train()
    torch.manual_seed(1)
    inputs, _, rows = training_prompts(module, condition)
    module.eval()
    read = inputs[rows]
    dropped = (read == without_codes(module, module.prompt_inputs)[condition]).all(1)
    dropped &= ~(read == module.prompt_inputs[condition]).all(1)
    n_singles = len(singles) * 50
    assert 0.3 < dropped[:n_singles].float().mean() < 0.7
    assert not dropped[n_singles:].any()  # pairs keep their codes
    inputs, _, rows = training_prompts(module, condition)  # evaluation: nothing dropped
    torch.testing.assert_close(inputs[rows], module.prompt_inputs[condition])


def test_predict_records_support_and_warns_about_low_support(anchored):
    model, _, controls = anchored
    model.predict(controls, "IFNB+TNF", key_added="seen")  # measured in every cell type
    assert set(controls.uns["seen_params"]["support"]["kind"]) == {"context"}
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
