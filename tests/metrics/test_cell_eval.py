"""The package's metrics beside cell-eval's, on the same predictions (skipped without it)."""

from __future__ import annotations

import anndata
import numpy as np
import pytest

from calmflow_sc.metrics import evaluate, to_cell_eval
from helpers import gen_adata


@pytest.fixture
def trio():
    adata = gen_adata(n_cells=400, conditions=("control", "IFNB", "TNF"))
    adata.X = adata.X.toarray()
    adata.obs["condition"] = adata.obs["condition"].astype(str)
    perturbed = (adata.obs["condition"] != "control").to_numpy()
    real = adata[perturbed].copy()
    pred = real.copy()
    rng = np.random.default_rng(0)
    pred.X = np.clip(pred.X + rng.normal(0.05, 0.3, pred.X.shape), 0, None).astype(np.float32)
    return pred, real, adata[~perturbed].copy()


def test_the_layout_holds_every_perturbation_and_the_controls(trio, tmp_path):
    pred, real, control = trio
    paths = to_cell_eval(pred, real, control, tmp_path, "condition")
    for name, source in (("pred", pred), ("real", real)):
        written = anndata.read_h5ad(paths[name])
        assert written.n_obs == source.n_obs + control.n_obs
        counts = written.obs["condition"].value_counts()
        assert counts["control"] == control.n_obs
        np.testing.assert_allclose(written.X[: source.n_obs], source.X)
    with pytest.raises(ValueError, match="overwrite=True"):
        to_cell_eval(pred, real, control, tmp_path, "condition")
    with pytest.raises(ValueError, match="perturbed cells only"):
        to_cell_eval(control, real, control, tmp_path, "condition", overwrite=True)


def test_pearson_delta_mse_and_mae_agree_with_cell_eval(trio, tmp_path):
    cell_eval = pytest.importorskip("cell_eval")
    pred, real, control = trio
    paths = to_cell_eval(pred, real, control, tmp_path / "layout", "condition")
    evaluator = cell_eval.MetricsEvaluator(
        str(paths["pred"]),
        str(paths["real"]),
        control_pert="control",
        pert_col="condition",
        outdir=str(tmp_path / "out"),
        skip_de=True,
        num_threads=1,
    )
    results, _ = evaluator.compute(
        profile="anndata", write_csv=False, skip_metrics=["clustering_agreement"]
    )
    theirs = results.to_pandas().set_index("perturbation")
    for perturbation in ("IFNB", "TNF"):
        ours = evaluate(
            pred[pred.obs["condition"] == perturbation],
            real[real.obs["condition"] == perturbation],
            control,
            top_k=(5,),
            de_k=(),
            transport=False,
        ).set_index("metric")["value"]
        for mine, their in (("pearson_delta_all", "pearson_delta"), ("mse_all", "mse")):
            assert ours[mine] == pytest.approx(theirs.loc[perturbation, their], rel=1e-5)
        assert ours["mae_all"] == pytest.approx(theirs.loc[perturbation, "mae"], rel=1e-5)
