from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from calmflow_sc.baselines import LinearBaseline

EFFECTS = {"p": np.array([1.0, 0.0, 0.5, 0.0]), "q": np.array([0.0, 2.0, 0.0, -0.5])}
BASES = {"A": np.array([3.0, 3.0, 3.0, 3.0]), "B": np.array([5.0, 4.0, 3.0, 2.0])}


@pytest.fixture
def additive_adata() -> ad.AnnData:
    """Group means that are exactly linear in cell type and perturbation components."""
    rng = np.random.default_rng(0)
    blocks, obs = [], []
    for cell_type, base in BASES.items():
        noise = rng.normal(scale=0.2, size=(10, 4))
        noise -= noise.mean(0)  # exact group means
        for condition in ("control", "p", "q", "p+q"):
            shift = sum((EFFECTS[c] for c in condition.split("+") if c in EFFECTS), np.zeros(4))
            blocks.append(base + shift + noise)
            obs += [(cell_type, condition)] * 10
    frame = pd.DataFrame(obs, columns=["cell_type", "condition"])
    frame.index = [f"c{i}" for i in range(len(frame))]
    adata = ad.AnnData(np.vstack(blocks).astype(np.float32), obs=frame)
    adata.var_names = [f"g{i}" for i in range(4)]
    return adata


def test_recovers_additive_effects(additive_adata):
    LinearBaseline.setup_anndata(additive_adata, "condition", "control", cell_type_key="cell_type")
    baseline = LinearBaseline(additive_adata, alpha=1e-8).train()
    np.testing.assert_allclose(baseline.shift("p"), EFFECTS["p"], atol=1e-5)
    np.testing.assert_allclose(baseline.shift("p+q"), EFFECTS["p"] + EFFECTS["q"], atol=1e-5)
    np.testing.assert_allclose(baseline.shift("control"), 0.0)
    ctrl = additive_adata[additive_adata.obs["condition"] == "control"].copy()
    out = baseline.predict(ctrl, "q", inplace=False)
    np.testing.assert_allclose(out.X, np.maximum(ctrl.X + EFFECTS["q"], 0), atol=1e-4)


def test_pair_held_out_is_predicted_additively(additive_adata):
    train = additive_adata[additive_adata.obs["condition"] != "p+q"].copy()
    baseline = LinearBaseline(train, "condition", "control", cell_type_key="cell_type", alpha=1e-8)
    baseline.train()
    np.testing.assert_allclose(baseline.shift("q+p"), EFFECTS["p"] + EFFECTS["q"], atol=1e-5)


def test_ridge_shrinks_and_unknown_components_fail(additive_adata):
    strong = LinearBaseline(additive_adata, "condition", "control", alpha=100.0).train()
    assert np.abs(strong.shift("p")).sum() < np.abs(EFFECTS["p"]).sum()
    with pytest.raises(ValueError, match="never seen"):
        strong.shift("p+r")
    with pytest.raises(ValueError, match="alpha"):
        LinearBaseline(additive_adata, "condition", "control", alpha=-1)
