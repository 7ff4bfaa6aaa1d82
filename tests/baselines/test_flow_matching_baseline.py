from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from calmflow_sc.baselines import FlowMatchingBaseline
from helpers import gen_adata

FAST = {"n_components": 8, "hidden_size": 64, "n_layers": 2, "n_iterations": 300, "n_ode_steps": 8}


@pytest.fixture(scope="module")
def adata():
    data = gen_adata(n_cells=480)
    FlowMatchingBaseline.setup_anndata(data, "condition", "control", cell_type_key="cell_type")
    return data


def _mean_change(adata, condition):
    x = adata.X.toarray()
    is_ctrl = (adata.obs["condition"] == "control").to_numpy()
    return x[(adata.obs["condition"] == condition).to_numpy()].mean(0) - x[is_ctrl].mean(0)


@pytest.mark.parametrize("source", ["control", "gaussian"])
def test_learns_the_perturbation_effect(adata, source):
    model = FlowMatchingBaseline(adata, source=source, **FAST).train()
    assert np.mean(model.history_[-50:]) < np.mean(model.history_[:50])
    ctrl = adata[adata.obs["condition"] == "control"].copy()
    out = model.predict(ctrl, "IFNB", inplace=False, seed=1)
    assert out.shape == ctrl.shape and (out.X >= 0).all()
    predicted = out.X.mean(0) - ctrl.X.toarray().mean(0)
    observed = _mean_change(adata, "IFNB")
    assert np.corrcoef(predicted, observed)[0, 1] > 0.8
    again = model.predict(ctrl, "IFNB", inplace=False, seed=1)
    np.testing.assert_array_equal(out.X, again.X)


def test_control_source_identity_and_pairs(adata):
    model = FlowMatchingBaseline(adata, source="control", **FAST).train()
    ctrl = adata[adata.obs["condition"] == "control"].copy()
    same = model.predict(ctrl, "control", inplace=False)
    np.testing.assert_allclose(same.X, ctrl.X.toarray(), atol=1e-6)
    # a pair of seen singles is encoded as the sum of their codes and can be predicted
    pair = model.predict(ctrl, "IFNB+TNF", inplace=False)
    assert np.isfinite(pair.X).all()
    with pytest.raises(ValueError, match="never seen"):
        model.predict(ctrl, "IL6", inplace=False)


def test_seeded_training_and_generate(adata):
    first = FlowMatchingBaseline(adata, source="gaussian", seed=3, **FAST).train()
    second = FlowMatchingBaseline(adata, source="gaussian", seed=3, **FAST).train()
    for a, b in zip(first.velocity_.parameters(), second.velocity_.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    obs = pd.DataFrame({"condition": ["IFNB", "TNF"] * 5, "cell_type": ["B cell"] * 10})
    generated = first.generate(obs, seed=0)
    assert generated.shape == (10, adata.n_vars)
    assert generated.obs["condition"].tolist() == obs["condition"].tolist()


def test_bad_arguments(adata):
    with pytest.raises(ValueError, match="source"):
        FlowMatchingBaseline(adata, source="noise")
    with pytest.raises(ValueError, match="n_iterations"):
        FlowMatchingBaseline(adata, n_iterations=0)
    with pytest.raises(RuntimeError, match="train"):
        FlowMatchingBaseline(adata, **FAST).predict(adata, "IFNB")
