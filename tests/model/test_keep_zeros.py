"""Predicted cells with real cells' zeros (``predict(keep_zeros=...)``)."""

from __future__ import annotations

import numpy as np

from calmflow_sc.metrics import detection_rate_error
from helpers import gen_adata, setup, trained_model


def test_predicted_cells_detect_genes_about_as_often_as_real_ones():
    adata = gen_adata(n_cells=300, n_genes=60)
    setup(adata)
    model = trained_model(adata, max_epochs=2)
    query = adata[(adata.obs["condition"] == "control").to_numpy()].copy()
    real = adata[(adata.obs["condition"] == "IFNB").to_numpy()].X
    rounded = model.predict(query, "IFNB", inplace=False)
    dense = model.predict(query, "IFNB", inplace=False, keep_zeros=False)
    assert rounded.uns["calmflow_params"]["keep_zeros"] is True
    assert dense.uns["calmflow_params"]["keep_zeros"] is False
    assert (rounded.X > 0).mean() < (dense.X > 0).mean()
    assert detection_rate_error(rounded.X, real) < detection_rate_error(dense.X, real)
    floor = model.module.representation.detection_floor.numpy()
    changed = rounded.X != dense.X
    assert changed.any()
    # only values below a gene's floor move, each to 0 or to that floor
    assert (dense.X[changed] < np.broadcast_to(floor, dense.X.shape)[changed]).all()
    moved = rounded.X[changed]
    target = np.broadcast_to(floor, dense.X.shape)[changed]
    assert np.all((moved == 0) | np.isclose(moved, target))
