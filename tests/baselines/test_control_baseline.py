from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.baselines import ControlBaseline


def test_prediction_is_the_control_cell(train_adata, ctrl_adata):
    baseline = ControlBaseline(train_adata, "condition", "control").train()
    assert baseline.predict(ctrl_adata, "stim", key_added="pred") is None
    prediction = ctrl_adata.layers["pred"]
    assert prediction.dtype == np.float32
    assert isinstance(prediction, np.ndarray)
    np.testing.assert_array_equal(prediction, ctrl_adata.X)


def test_layer_sparse_and_new_anndata(train_adata, ctrl_adata):
    for adata in (train_adata, ctrl_adata):
        adata.layers["lognorm"] = sparse.csr_matrix(adata.X)
        adata.X = np.zeros(adata.shape, dtype=np.float32)
    baseline = ControlBaseline(train_adata, "condition", "control", layer="lognorm").train()
    result = baseline.predict(ctrl_adata, "anything", inplace=False)
    assert isinstance(result, ad.AnnData)
    assert "prediction" not in ctrl_adata.layers
    np.testing.assert_array_equal(result.X, ctrl_adata.layers["lognorm"].toarray())
    assert (result.obs["condition"] == "anything").all()
    assert result.obs_names.equals(ctrl_adata.obs_names)


def test_requires_training_and_matching_genes(train_adata, ctrl_adata):
    baseline = ControlBaseline(train_adata, "condition", "control")
    with pytest.raises(RuntimeError, match="train"):
        baseline.predict(ctrl_adata, "stim")
    baseline.train()
    with pytest.raises(ValueError, match="var_names"):
        baseline.predict(ctrl_adata[:, ::-1].copy(), "stim")


def test_constructor_validation(train_adata):
    with pytest.raises(ValueError, match="missing_key"):
        ControlBaseline(train_adata, "missing_key", "control")
    with pytest.raises(ValueError, match="No control cells"):
        ControlBaseline(train_adata, "condition", "ctrl")
    with pytest.raises(ValueError, match="Layer"):
        ControlBaseline(train_adata, "condition", "control", layer="counts")
    with pytest.raises(ValueError, match="cell_kind"):
        ControlBaseline(train_adata, "condition", "control", cell_type_key="cell_kind")
