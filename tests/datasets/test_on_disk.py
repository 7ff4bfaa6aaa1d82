"""The simulated experiment written to disk in blocks."""

from __future__ import annotations

import anndata
import numpy as np
import pytest

from calmflow_sc.datasets import simulated, write_simulated


def test_blocks_repeat_one_experiment_under_new_names(tmp_path):
    path = write_simulated(tmp_path / "cells.h5ad", n_cells=500, n_genes=50, block_cells=240)
    cells = anndata.read_h5ad(path, backed="r")
    assert cells.shape == (500, 50) and cells.obs_names.is_unique
    block = simulated(n_cells_per_group=10, n_genes=50)
    assert block.n_obs == 240
    block = block[np.random.default_rng(0).permutation(240)]
    stored = cells.X[240:480].toarray()
    np.testing.assert_array_equal(stored, block.X.toarray())
    np.testing.assert_array_equal(cells.X[480:500].toarray(), block.X[:20].toarray())
    assert cells.obs["condition"].iloc[240:480].tolist() == block.obs["condition"].tolist()
    assert cells.obs["condition"].iloc[:50].nunique() == 6  # every condition early on
    with pytest.raises(ValueError, match="n_cells must be at least 1"):
        write_simulated(tmp_path / "none.h5ad", n_cells=0)
