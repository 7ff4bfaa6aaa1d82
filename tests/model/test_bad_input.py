from __future__ import annotations

import numpy as np
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


def test_raw_counts_warn():
    adata = gen_adata(n_cells=60)
    adata.X = adata.X.copy()
    adata.X.data = np.round(np.expm1(adata.X.data) * 10)
    adata.X.data[0] = 100.0
    with pytest.warns(UserWarning, match="raw counts"):
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
    with pytest.raises(ValueError, match="genes of this AnnData differ"):
        model.predict(other, perturbation="IFNB")
    shuffled = gen_adata(n_cells=20)[:, ::-1].copy()
    with pytest.raises(ValueError, match="different order"):
        model.predict(shuffled, perturbation="IFNB")
    assert "calmflow" not in shuffled.layers


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
