"""The prediction writer: every output form holds the same values and the same annotations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from mudata import MuData
from scipy import sparse

import calmflow_sc.model._prediction as prediction_file
from calmflow_sc.model._prediction_writer import PredictionWriter
from calmflow_sc.model._predictor import Prediction
from helpers import gen_adata, trained_model

PARAMS = {"perturbation": "IFNB", "seed": 0}
TREATMENT = {"condition": "IFNB"}


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


@pytest.fixture
def cells() -> ad.AnnData:
    adata = gen_adata(n_cells=10, n_genes=6)
    adata.obsm["X_pca"] = np.ones((adata.n_obs, 2))
    return adata


def predicted(n_cells: int = 10, n_genes: int = 6, fail_at: int | None = None) -> Prediction:
    """Expression with clipped zeros in blocks of 3 cells; ``fail_at``: raise at that row."""
    values = np.arange(n_cells * n_genes, dtype=np.float32).reshape(n_cells, n_genes) % 5
    coordinates = np.arange(n_cells * 2, dtype=np.float32).reshape(n_cells, 2)

    def blocks() -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, n_cells, 3):
            if fail_at is not None and start >= fail_at:
                raise FloatingPointError("The predictions of 1 of 10 cells are not finite")
            yield start, values[start : start + 3]

    return Prediction(coordinates, blocks(), n_genes)


def output_of(form: str, tmp_path: Path) -> str | Path:
    return tmp_path / "out.h5ad" if form == "file" else form


@pytest.mark.parametrize("form", ["dense", "sparse", "file"])
def test_a_new_anndata_holds_the_values_obs_and_params(cells, tmp_path, form):
    expected = predicted()
    values = np.concatenate([block for _, block in expected.blocks])
    writer = PredictionWriter("pred", output_of(form, tmp_path))
    result = writer.write(predicted(), cells.obs, cells.var, PARAMS, TREATMENT)
    np.testing.assert_array_equal(dense(result.X[:]), values)
    assert sparse.issparse(result.X) == (form == "sparse")
    np.testing.assert_array_equal(result.obsm["X_pred"], expected.coordinates)
    assert (result.obs["condition"] == "IFNB").all()
    np.testing.assert_array_equal(
        result.obs["source_condition"].astype(str), cells.obs["condition"].astype(str)
    )
    assert list(result.var_names) == list(cells.var_names)
    params = dict(result.uns["pred_params"])
    if form == "file":
        assert result.isbacked and "pred" not in result.layers
        assert params.pop("output") == str(tmp_path / "out.h5ad")
    else:
        np.testing.assert_array_equal(dense(result.layers["pred"]), values)
    assert params == PARAMS
    assert "condition" in cells.obs and "source_condition" not in cells.obs  # untouched
    assert "pred" not in cells.layers and "X_pred" not in cells.obsm


@pytest.mark.parametrize("form", ["dense", "sparse", "file"])
def test_writing_into_an_anndata_records_its_outputs(cells, tmp_path, form):
    obs = cells.obs.copy()
    writer = PredictionWriter("pred", output_of(form, tmp_path), into=cells)
    assert writer.write(predicted(), cells.obs, cells.var, PARAMS, TREATMENT) is None
    expected = predicted()
    values = np.concatenate([block for _, block in expected.blocks])
    np.testing.assert_array_equal(cells.obsm["X_pred"], expected.coordinates)
    pd.testing.assert_frame_equal(cells.obs, obs)  # the cells keep their own labels
    if form == "file":
        assert "pred" not in cells.layers
        assert cells.uns["_calmflow_sc_outputs"] == ["obsm/X_pred"]
        assert cells.uns["pred_params"] == PARAMS | {"output": str(tmp_path / "out.h5ad")}
        streamed = ad.read_h5ad(tmp_path / "out.h5ad")
        np.testing.assert_array_equal(streamed.X, values)
        np.testing.assert_array_equal(streamed.obsm["X_pred"], expected.coordinates)
        assert (streamed.obs["condition"] == "IFNB").all()
        assert "source_condition" in streamed.obs
    else:
        assert sparse.issparse(cells.layers["pred"]) == (form == "sparse")
        np.testing.assert_array_equal(dense(cells.layers["pred"]), values)
        assert cells.uns["_calmflow_sc_outputs"] == ["layers/pred", "obsm/X_pred"]
        assert cells.uns["pred_params"] == PARAMS


def test_sparse_output_stores_no_zeros(cells):
    result = PredictionWriter("pred", "sparse").write(predicted(), cells.obs, cells.var)
    assert result.X.nnz == np.count_nonzero(result.X.toarray())
    assert result.X.dtype == np.float32


@pytest.mark.parametrize("interruption", [FloatingPointError, KeyboardInterrupt])
def test_an_aborted_stream_leaves_no_file_and_writes_nothing(cells, tmp_path, interruption):
    prediction = predicted(fail_at=6)
    if interruption is KeyboardInterrupt:

        def interrupted() -> Iterator[tuple[int, np.ndarray]]:
            yield 0, np.zeros((3, 6), dtype=np.float32)
            raise KeyboardInterrupt

        prediction.blocks = interrupted()
    writer = PredictionWriter("pred", tmp_path / "out.h5ad", into=cells)
    with pytest.raises(interruption):
        writer.write(prediction, cells.obs, cells.var, PARAMS)
    assert list(tmp_path.iterdir()) == []
    assert "X_pred" not in cells.obsm and "pred_params" not in cells.uns


def test_key_clashes_are_refused_when_the_writer_is_made(cells):
    cells.layers["mine"] = cells.X.copy()
    with pytest.raises(ValueError, match="overwrite=True"):
        PredictionWriter("mine", into=cells)
    with pytest.raises(ValueError, match="overwrite=True"):
        PredictionWriter("pca", into=cells)  # obsm["X_pca"]
    with pytest.raises(ValueError, match="reads its input"):
        PredictionWriter("counts", into=cells, protected_layer="counts")
    PredictionWriter("mine", into=cells, overwrite=True)
    PredictionWriter("mine")  # a new AnnData clashes with nothing


@pytest.fixture(scope="module")
def model_and_query():
    torch.manual_seed(0)
    model = trained_model(max_epochs=1)
    adata = gen_adata()
    rna = adata[:30].copy()
    condition = rna.obs.pop("condition").astype(str).to_numpy()
    mdata = MuData({"rna": rna})
    mdata.obs["condition"] = condition  # the label outside the RNA modality
    return model, adata[:30].copy(), mdata


@pytest.mark.filterwarnings("ignore:Some of these cells are not control cells")
@pytest.mark.parametrize("form", ["dense", "sparse", "file"])
@pytest.mark.parametrize("inplace", [True, False])
def test_a_mudata_gets_what_an_anndata_gets(model_and_query, tmp_path, form, inplace):
    model, cells, mdata = model_and_query
    mdata = mdata.copy()
    expected = model.predict(
        cells, "TNF", inplace=False, output=form if form != "file" else "dense"
    )
    output = tmp_path / "mu.h5ad" if form == "file" else form
    result = model.predict(mdata, "TNF", key_added="pred", inplace=inplace, output=output)
    rna = mdata.mod["rna"]
    written = ad.read_h5ad(output) if form == "file" else result
    if inplace:
        assert result is None
        np.testing.assert_array_equal(rna.obsm["X_pred"], expected.obsm["X_calmflow"])
        assert rna.uns["pred_params"]["perturbation"] == "TNF"
        if form != "file":
            np.testing.assert_array_equal(dense(rna.layers["pred"]), dense(expected.X))
    else:
        assert "X_pred" not in rna.obsm and "pred" not in rna.layers
        np.testing.assert_array_equal(written.obsm["X_pred"], expected.obsm["X_calmflow"])
    if written is not None:
        np.testing.assert_array_equal(dense(written.X[:]), dense(expected.X))
        assert (written.obs["condition"] == "TNF").all()
        np.testing.assert_array_equal(
            written.obs["source_condition"].astype(str), cells.obs["condition"].astype(str)
        )


def test_a_mudata_key_clash_is_refused_before_any_work(model_and_query, monkeypatch):
    model, _, mdata = model_and_query
    mdata = mdata.copy()
    mdata.mod["rna"].layers["mine"] = mdata.mod["rna"].X.copy()

    def no_work(*args, **kwargs):
        raise AssertionError("predicted before checking key_added")

    monkeypatch.setattr(prediction_file.Predictor, "predict", no_work)
    with pytest.raises(ValueError, match="overwrite=True"):
        model.predict(mdata, "TNF", key_added="mine")
    assert "X_mine" not in mdata.mod["rna"].obsm
