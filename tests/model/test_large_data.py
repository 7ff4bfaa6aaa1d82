"""Data larger than memory: backed training, streamed and sparse predictions, bounded memory."""

from __future__ import annotations

import tracemalloc

import anndata
import numpy as np
import pytest
import torch
from scipy import sparse

import calmflow_sc.model._training_data as training_file
from calmflow_sc import CaLMFlowPerturb
from calmflow_sc._anndata import sample_rows
from calmflow_sc.data import PCARepresentation
from helpers import TINY_MODEL, gen_adata, setup, trained_model


def as_kind(adata, kind: str):
    """A copy of ``adata`` with a dense or sparse ``X``."""
    copy = adata.copy()
    dense = copy.X.toarray() if sparse.issparse(copy.X) else np.asarray(copy.X)
    copy.X = sparse.csr_matrix(dense) if kind == "sparse" else dense
    return copy


def written(adata, path, kind: str):
    """``adata`` written to ``path`` with a dense or sparse ``X``, reopened backed."""
    as_kind(adata, kind).write_h5ad(path)
    return anndata.read_h5ad(path, backed="r")


@pytest.fixture(scope="module")
def model_and_controls():
    torch.manual_seed(0)
    model = trained_model(max_epochs=1)
    adata = gen_adata()
    return model, adata[adata.obs["condition"] == "control"].copy()


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_training_from_a_backed_file_sees_what_training_in_memory_sees(tmp_path, kind):
    adata = as_kind(gen_adata(), kind)
    backed = written(adata, tmp_path / "cells.h5ad", kind)
    fitted = []
    for data in (adata, backed):
        setup(data)
        model = CaLMFlowPerturb(data, **TINY_MODEL)
        builder, targets = model._fit_to_training_cells()
        fitted.append((model.module.representation.components, builder.states, targets))
    torch.testing.assert_close(fitted[0][0], fitted[1][0])  # the same PCA
    torch.testing.assert_close(fitted[0][1], fitted[1][1])  # the same model-space cells
    np.testing.assert_array_equal(fitted[0][2], fitted[1][2])
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    controls = adata[adata.obs["condition"] == "control"].copy()
    assert np.isfinite(model.predict(controls, "IFNB", inplace=False).X).all()
    assert backed.isbacked  # still on disk


def test_sparse_and_streamed_outputs_equal_the_dense_one(model_and_controls, tmp_path):
    model, controls = model_and_controls
    dense = model.predict(controls, "IFNB", inplace=False)
    as_sparse = model.predict(controls, "IFNB", inplace=False, output="sparse")
    assert sparse.issparse(as_sparse.layers["calmflow"])
    np.testing.assert_array_equal(as_sparse.layers["calmflow"].toarray(), dense.X)
    query = written(controls, tmp_path / "query.h5ad", "sparse")
    model.predict(query, "IFNB", output=tmp_path / "out.h5ad")
    assert "calmflow" not in query.layers  # the gene-space output went to the file
    np.testing.assert_array_equal(query.obsm["X_calmflow"], dense.obsm["X_calmflow"])
    streamed = anndata.read_h5ad(tmp_path / "out.h5ad")
    np.testing.assert_array_equal(streamed.X, dense.X)
    np.testing.assert_array_equal(streamed.obsm["X_calmflow"], dense.obsm["X_calmflow"])
    assert (streamed.obs["condition"] == "IFNB").all()
    assert streamed.uns["calmflow_params"]["output"] == str(tmp_path / "out.h5ad")
    with pytest.raises(ValueError, match="exists; pass overwrite=True"):
        model.predict(query, "IFNB", output=tmp_path / "out.h5ad")
    returned = model.predict(
        query, "IFNB", output=tmp_path / "out.h5ad", overwrite=True, inplace=False
    )
    assert returned.isbacked and returned.shape == controls.shape
    with pytest.raises(ValueError, match="'dense', 'sparse' or the path"):
        model.predict(controls, "IFNB", output="out.csv")


def test_a_failed_streamed_prediction_leaves_no_file(model_and_controls, tmp_path, monkeypatch):
    model, controls = model_and_controls
    representation = model.module.representation
    monkeypatch.setattr(representation, "move", lambda cells, *_: cells * np.nan)
    with pytest.raises(FloatingPointError, match="not finite"):
        model.predict(controls, "IFNB", output=tmp_path / "out.h5ad")
    assert list(tmp_path.iterdir()) == []
    assert "X_calmflow" not in controls.obsm


def test_the_pca_is_fitted_on_a_bounded_sample(tmp_path, monkeypatch):
    adata = gen_adata(n_cells=300)
    backed = written(adata, tmp_path / "cells.h5ad", "sparse")
    rows = sample_rows(backed.X, 50, seed=0)
    assert sparse.issparse(rows) and rows.shape == (50, adata.n_vars)
    np.testing.assert_array_equal(
        rows.toarray(), sample_rows(adata.X, 50, seed=0).toarray()
    )  # the same sample on disk as in memory
    seen = []
    fit = PCARepresentation.fit
    monkeypatch.setattr(training_file, "PCA_MAX_CELLS", 100)
    monkeypatch.setattr(
        PCARepresentation,
        "fit",
        lambda self, expression, **kw: seen.append(expression.shape) or fit(self, expression),
    )
    setup(backed)
    trained_model(backed, max_epochs=1)
    assert seen == [(100, adata.n_vars)]


def test_streamed_prediction_memory_does_not_hold_the_output(tmp_path):
    """20,000 cells x 1,000 genes on disk: the gene-space output never sits in memory whole."""
    adata = gen_adata(n_genes=1000)
    setup(adata)
    model = trained_model(adata, max_epochs=1)
    controls = adata[adata.obs["condition"] == "control"]
    many = anndata.concat([controls] * (20_000 // controls.n_obs + 1))[:20_000]
    many.obs_names = [f"cell{i}" for i in range(many.n_obs)]
    query = written(many, tmp_path / "many.h5ad", "dense")
    output_bytes = many.n_obs * many.n_vars * 4
    tracemalloc.start()
    model.predict(query, "IFNB", output=tmp_path / "out.h5ad")
    _, peak_streamed = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    model.predict(query, "IFNB", inplace=False)
    _, peak_dense = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak_dense > output_bytes  # the dense path holds the output
    assert peak_streamed < output_bytes / 2


def test_the_control_pool_is_bounded_per_context(monkeypatch):
    from calmflow_sc.data._control_pool import bounded_per_context

    contexts = np.array([0] * 10 + [1] * 3 + [2] * 7)
    kept = bounded_per_context(contexts, 5, seed=0)
    assert np.bincount(contexts[kept]).tolist() == [5, 3, 5]
    assert np.all(np.diff(kept) > 0)
    np.testing.assert_array_equal(bounded_per_context(contexts, 10), np.arange(20))
    monkeypatch.setattr(training_file, "CONTROL_POOL_MAX_PER_CONTEXT", 4)
    adata = gen_adata()
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model._fit_to_training_cells()
    assert len(model.module.control_states) == 3 * 4  # three cell types, four controls each
    assert model.module.control_pool.count.tolist() == [4, 4, 4]


def test_returned_predictions_keep_the_source_cells_label(model_and_controls, tmp_path):
    model, controls = model_and_controls
    returned = model.predict(controls, "IFNB", inplace=False)
    assert (returned.obs["condition"] == "IFNB").all()
    assert (returned.obs["source_condition"] == "control").all()
    model.predict(controls, "IFNB", output=tmp_path / "p.h5ad")
    streamed = anndata.read_h5ad(tmp_path / "p.h5ad")
    assert (streamed.obs["source_condition"] == "control").all()
    assert "source_condition" not in controls.obs  # the query is not relabelled
