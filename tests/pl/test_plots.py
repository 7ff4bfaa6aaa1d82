from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import calmflow_sc as cfs
from helpers import gen_adata


@pytest.fixture
def trio():
    adata = gen_adata(n_cells=300)
    control = adata[adata.obs["condition"] == "control"].copy()
    real = adata[adata.obs["condition"] == "IFNB"].copy()
    pred = control.copy()
    shift = real.X.toarray().mean(0) - control.X.toarray().mean(0)
    pred.layers["pred"] = control.X.toarray() + 0.8 * shift
    return pred, real, control


def test_mean_change_draws_one_point_per_gene(trio, tmp_path):
    pred, real, control = trio
    path = tmp_path / "change.png"
    ax = cfs.pl.mean_change(pred, real, control, pred_layer="pred", top_k=12, save=path)
    assert path.stat().st_size > 0
    (points,) = ax.collections
    assert len(points.get_offsets()) == 12
    assert ax.get_xlabel() == "observed mean change"
    assert "Pearson 1.00" in ax.get_title()  # the prediction is 0.8 x the true change
    assert len(ax.texts) == 10
    plt.close("all")


def test_mean_change_reads_what_predict_recorded(trio):
    pred, real, control = trio
    asked = cfs.pl.mean_change(pred, real, control, pred_layer="pred", show=False)
    pred.uns["pred_params"] = {"perturbation": "IFNB", "seed": 0}
    recorded = cfs.pl.mean_change(pred, real, control, show=False)
    np.testing.assert_array_equal(
        recorded.collections[0].get_offsets(), asked.collections[0].get_offsets()
    )
    assert recorded.get_title().startswith("IFNB: top 20 genes, Pearson 1.00")
    keyed = cfs.pl.mean_change(pred, real, control, key="pred", show=False)
    assert keyed.get_title() == recorded.get_title()
    heatmap = cfs.pl.mean_change_heatmap(pred, real, control, show=False)
    assert heatmap.images[0].get_array()[1].max() > 0  # the prediction, not the controls
    pred.uns["other_params"] = {"perturbation": "TNF"}
    with pytest.raises(ValueError, match="key="):
        cfs.pl.mean_change(pred, real, control, show=False)
    with pytest.raises(KeyError, match="key_added"):
        cfs.pl.mean_change(pred, real, control, key="missing", show=False)
    plt.close("all")


@pytest.mark.parametrize("basis", ["pca", "umap"])
def test_joint_embedding_shows_every_cell_by_origin(trio, tmp_path, basis):
    pred, real, control = trio
    _, ax = plt.subplots()
    returned = cfs.pl.joint_embedding(
        pred, real, control, pred_layer="pred", basis=basis, ax=ax, save=tmp_path / "e.png"
    )
    assert returned is ax
    n_points = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_points == pred.n_obs + real.n_obs + control.n_obs
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["control", "observed", "predicted"]
    with pytest.raises(ValueError, match="basis"):
        cfs.pl.joint_embedding(pred, real, basis="tsne")
    plt.close("all")


def test_metrics_comparison(tmp_path):
    tables = {
        "calmflow": pd.DataFrame({"metric": ["energy_distance", "mmd"], "value": [0.5, 0.02]}),
        "mean shift": pd.DataFrame({"metric": ["energy_distance", "mmd"], "value": [2.0, 0.07]}),
    }
    ax = cfs.pl.metrics_comparison(tables, "energy_distance", save=tmp_path / "m.png")
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, [0.5, 2.0])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["calmflow", "mean shift"]
    assert "lower is better" in ax.get_title()
    with pytest.raises(ValueError, match="available"):
        cfs.pl.metrics_comparison(tables, "r2_all")
    plt.close("all")


def test_mean_change_heatmap_has_a_row_per_source(trio, tmp_path):
    pred, real, control = trio
    other = pred.copy()
    other.layers["pred"] = control.X.toarray()  # a model that predicts no change
    ax = cfs.pl.mean_change_heatmap(
        {"good": pred, "none": other},
        real,
        control,
        pred_layer="pred",
        top_k=8,
        save=tmp_path / "h.png",
    )
    (image,) = ax.images
    values = image.get_array()
    assert values.shape == (3, 8)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["observed", "good", "none"]
    np.testing.assert_allclose(values[2], 0.0, atol=1e-6)
    np.testing.assert_allclose(values[1], 0.8 * values[0], rtol=1e-4, atol=1e-6)
    plt.close("all")
