from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup, trained_model


def snapshot(adata):
    return adata.obs.copy(), set(adata.obsm), set(adata.uns), set(adata.layers), adata.X.copy()


def assert_unchanged(adata, before):
    obs, obsm, uns, layers, x = before
    assert list(adata.obs.columns) == list(obs.columns)
    assert set(adata.obsm) == obsm and set(adata.uns) == uns and set(adata.layers) == layers
    assert (x != adata.X).nnz == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"perturbation_key": "drug"}, KeyError, "perturbation_key='drug'"),
        ({"cell_type_key": "celltype"}, KeyError, "cell_type_key='celltype'"),
        ({"covariate_keys": ["batch"]}, KeyError, "covariate_keys='batch'"),
        ({"layer": "logcounts"}, KeyError, "Layer 'logcounts'"),
        ({"control_value": "ctrl"}, ValueError, "control_value='ctrl' does not occur"),
    ],
)
def test_setup_rejects_bad_arguments_and_leaves_data_unchanged(kwargs, error, match):
    adata = gen_adata(n_cells=60)
    before = snapshot(adata)
    arguments = {
        "perturbation_key": "condition",
        "control_value": "control",
        "cell_type_key": "cell_type",
    } | kwargs
    with pytest.raises(error, match=match):
        CaLMFlowPerturb.setup_anndata(adata, **arguments)
    assert_unchanged(adata, before)


def test_setup_rejects_missing_condition_values():
    adata = gen_adata(n_cells=60)
    adata.obs["condition"] = adata.obs["condition"].astype(object)
    adata.obs.iloc[3, adata.obs.columns.get_loc("condition")] = np.nan
    before = snapshot(adata)
    with pytest.raises(ValueError, match="missing values"):
        setup(adata)
    assert_unchanged(adata, before)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_setup_rejects_non_finite_expression(value):
    adata = gen_adata(n_cells=60)
    adata.X.data[5] = value
    before = snapshot(adata)
    with pytest.raises(ValueError, match="NaN or infinite"):
        setup(adata)
    assert set(adata.uns) == before[2] and list(adata.obs.columns) == list(before[0].columns)


def test_setup_rejects_empty_anndata():
    adata = gen_adata(n_cells=60)[:0].copy()
    with pytest.raises(ValueError, match="empty"):
        setup(adata)


def test_raw_counts_are_refused_with_the_scanpy_fix():
    adata = gen_adata(n_cells=60)
    adata.X = adata.X.copy()
    adata.X.data = np.round(np.expm1(adata.X.data) * 10)
    adata.X.data[0] = 100.0
    before = snapshot(adata)
    with pytest.raises(ValueError, match=r"raw counts.*sc\.pp\.normalize_total.*sc\.pp\.log1p"):
        setup(adata)
    assert_unchanged(adata, before)


def test_normalised_but_not_logged_data_is_refused():
    adata = gen_adata(n_cells=60)
    adata.X = adata.X.copy()
    adata.X.data = np.expm1(adata.X.data) * 37.3  # normalize_total without log1p
    with pytest.raises(ValueError, match=r"not log-transformed.*sc\.pp\.log1p"):
        setup(adata)


def test_scaled_data_is_refused():
    adata = gen_adata(n_cells=60)
    dense = adata.X.toarray()
    adata.X = (dense - dense.mean(0)) / (dense.std(0) + 1e-3)  # sc.pp.scale
    with pytest.raises(ValueError, match=r"scaled values.*sc\.pp\.scale"):
        setup(adata)


def test_too_few_cells_to_train():
    adata = gen_adata(n_cells=10)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with pytest.raises(ValueError, match="at least 16"):
        model.train(max_epochs=1)


def test_predict_before_train():
    adata = gen_adata(n_cells=60)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with pytest.raises(RuntimeError, match=r"call model.train\(\)"):
        model.predict(adata, perturbation="IFNB")


@pytest.fixture(scope="module")
def model():
    return trained_model(max_epochs=1)


def test_predict_on_other_genes(model):
    other = gen_adata(n_cells=20, n_genes=35)
    other.var_names = [f"other{i}" for i in range(35)]
    with pytest.raises(ValueError, match=r"lacks .* training genes"):
        model.predict(other, perturbation="IFNB")
    assert "calmflow" not in other.layers


def test_genes_in_another_order_are_reordered_and_written_back(model):
    query = gen_adata(n_cells=20)
    expected = model.predict(query, perturbation="IFNB", inplace=False).X
    shuffled = query[:, ::-1].copy()
    with pytest.warns(UserWarning, match="another order; they are reordered"):
        model.predict(shuffled, perturbation="IFNB")
    np.testing.assert_allclose(shuffled.layers["calmflow"], expected[:, ::-1], rtol=1e-5)


def test_a_superset_of_the_genes_predicts_the_training_genes(model):
    query = gen_adata(n_cells=20)
    expected = model.predict(query, perturbation="IFNB", inplace=False)
    extra = ad.AnnData(
        np.ones((20, 3), dtype=np.float32),
        obs=query.obs,
        var=pd.DataFrame(index=["extra0", "extra1", "extra2"]),
    )
    wider = ad.concat([extra, query], axis=1, merge="first")
    with pytest.raises(ValueError, match=r"3 genes the model was not trained on.*inplace=False"):
        model.predict(wider, perturbation="IFNB")
    with pytest.warns(UserWarning, match="3 genes the model was not trained on; they are left out"):
        predicted = model.predict(wider, perturbation="IFNB", inplace=False)
    assert list(predicted.var_names) == list(model.var_names_)
    np.testing.assert_allclose(predicted.X, expected.X, rtol=1e-5)


def test_predict_without_cell_type_column(model):
    query = gen_adata(n_cells=20)
    del query.obs["cell_type"]
    with pytest.raises(KeyError, match="cell_type"):
        model.predict(query, perturbation="IFNB")
    assert "calmflow" not in query.layers


def test_predict_rejects_nan_expression(model):
    query = gen_adata(n_cells=20)
    query.X.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict(query, perturbation="IFNB")


def test_load_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a directory"):
        CaLMFlowPerturb.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"No saved model.*manifest\.json"):
        CaLMFlowPerturb.load(tmp_path / "empty")


def test_load_corrupted_weights(model, tmp_path):
    model.save(tmp_path / "m")
    (tmp_path / "m" / "weights.safetensors").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="checksum"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
