from __future__ import annotations

import anndata as ad
import numpy as np
import pytest
from mudata import MuData

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata


def _mudata(adata: ad.AnnData, label_in: str) -> MuData:
    """RNA modality plus the perturbation label in mdata.obs or in a guide modality."""
    rna = adata.copy()
    condition = rna.obs.pop("condition").astype(str).to_numpy()
    guides = ad.AnnData(np.ones((rna.n_obs, 1), dtype=np.float32), obs=rna.obs[[]].copy())
    modalities = {"rna": rna}
    if label_in == "guides":
        guides.obs["condition"] = condition
        modalities["guides"] = guides
    mdata = MuData(modalities)
    if label_in == "global":
        mdata.obs["condition"] = condition
    return mdata


@pytest.mark.parametrize("label_in", ["global", "guides"])
def test_setup_mudata_trains_and_predicts_into_the_rna_modality(label_in):
    mdata = _mudata(gen_adata(), label_in)
    modalities = {"rna_layer": "rna", "cell_type_key": "rna"}
    if label_in == "guides":
        modalities["perturbation_key"] = "guides"
    CaLMFlowPerturb.setup_mudata(
        mdata, "condition", "control", cell_type_key="cell_type", modalities=modalities
    )
    model = CaLMFlowPerturb(mdata, **TINY_MODEL)
    assert model.var_names_ == list(mdata.mod["rna"].var_names)
    model.train(max_epochs=2, accelerator="cpu", enable_progress_bar=False)
    labels = (
        mdata.obs["condition"] if label_in == "global" else mdata.mod["guides"].obs["condition"]
    )
    controls = mdata[(labels == "control").to_numpy()].copy()
    model.predict(controls, "IFNB", key_added="pred")
    rna = controls.mod["rna"]
    assert rna.layers["pred"].shape == rna.shape
    assert rna.obsm["X_pred"].shape[0] == rna.n_obs
    returned = model.predict(controls, "IFNB", inplace=False)
    np.testing.assert_array_equal(returned.layers["calmflow"], rna.layers["pred"])


def test_setup_mudata_errors_name_the_fix():
    mdata = _mudata(gen_adata(), "global")
    with pytest.raises(KeyError, match="protein"):
        CaLMFlowPerturb.setup_mudata(mdata, "condition", modalities={"rna_layer": "protein"})
    with pytest.raises(KeyError, match="modalities="):
        CaLMFlowPerturb.setup_mudata(mdata, "condition", cell_type_key="cell_type")
    with pytest.raises(ValueError, match="control_value"):
        CaLMFlowPerturb.setup_mudata(mdata, "condition", control_value="ctrl")
    with pytest.raises(TypeError, match="setup_anndata"):
        CaLMFlowPerturb.setup_mudata(mdata.mod["rna"], "condition")


@pytest.mark.realdata
def test_mudata_from_the_shared_kang_data(data_dir):
    adata = ad.read_h5ad(data_dir / "kang2018_pbmc_ifnb.h5ad")
    held = (adata.obs["cell_type"] == "NK") & (adata.obs["condition"] == "stimulated")
    train = _mudata(adata[~held.to_numpy()].copy(), "global")
    CaLMFlowPerturb.setup_mudata(
        train,
        "condition",
        "control",
        cell_type_key="cell_type",
        modalities={"rna_layer": "rna", "cell_type_key": "rna"},
    )
    model = CaLMFlowPerturb(train, **TINY_MODEL)
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    nk = adata[
        ((adata.obs["cell_type"] == "NK") & (adata.obs["condition"] == "control")).to_numpy()
    ]
    query = _mudata(nk.copy(), "global")
    model.predict(query, "stimulated")
    assert query.mod["rna"].layers["calmflow"].shape == (nk.n_obs, adata.n_vars)
