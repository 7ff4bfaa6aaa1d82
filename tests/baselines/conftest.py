from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

N_GENES = 6
N_CELLS = 8  # per (cell type, condition) group

# known shifts of mean expression
SHIFTS = {
    ("A", "stim"): np.array([1.0, 0.5, 0.0, -0.5, 0.0, 2.0]),
    ("B", "stim"): np.array([2.0, 0.0, 1.0, -1.0, 0.5, 0.0]),
    ("B", "drugX"): np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
    ("C", "drugX"): np.array([1.5, -0.5, 0.0, 0.0, 1.0, 0.5]),
    ("A", "g1"): np.array([1.0, 0.0, 0.0, 0.0, 0.0, -0.25]),
    ("A", "g2"): np.array([0.0, 2.0, 0.0, 0.0, 0.0, 0.25]),
}


@pytest.fixture
def known_shifts() -> dict[tuple[str, str], np.ndarray]:
    """The exact mean shift of every (cell type, perturbation) group of ``train_adata``."""
    return {key: shift.copy() for key, shift in SHIFTS.items()}


@pytest.fixture
def train_adata() -> ad.AnnData:
    """Three cell types; every perturbed group is a control group plus a known exact shift."""
    rng = np.random.default_rng(0)
    blocks, obs = [], []
    for cell_type, base in (("A", 3.0), ("B", 5.0), ("C", 4.0)):
        control = base + rng.uniform(-1.0, 1.0, size=(N_CELLS, N_GENES))
        blocks.append(control)
        obs += [(cell_type, "control")] * N_CELLS
        for (ct, perturbation), shift in SHIFTS.items():
            if ct == cell_type:
                blocks.append(control + shift)  # same cells shifted: exact mean shift
                obs += [(cell_type, perturbation)] * N_CELLS
    obs_df = pd.DataFrame(obs, columns=["cell_type", "condition"]).astype("category")
    obs_df.index = [f"cell{i}" for i in range(len(obs_df))]
    adata = ad.AnnData(np.vstack(blocks).astype(np.float32), obs=obs_df)
    adata.var_names = [f"gene{i}" for i in range(N_GENES)]
    return adata


@pytest.fixture
def ctrl_adata(train_adata) -> ad.AnnData:
    """Fresh control cells of all three cell types (and of an unseen cell type D)."""
    rng = np.random.default_rng(1)
    x = rng.uniform(2.0, 6.0, size=(12, N_GENES)).astype(np.float32)
    obs = pd.DataFrame(
        {"cell_type": ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 3, "condition": "control"},
        index=[f"ctrl{i}" for i in range(12)],
    )
    return ad.AnnData(x, obs=obs, var=train_adata.var.copy())
