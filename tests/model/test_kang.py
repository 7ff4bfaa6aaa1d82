"""Real data: Kang 2018 PBMCs, predict the IFN-beta response of a cell type held out."""

from __future__ import annotations

import numpy as np
import pytest
import scvi
from sklearn.decomposition import PCA

import calmflow_sc as cfs
from calmflow_sc.metrics import energy_distance, top_changed_genes

HELD_OUT = "CD14+Mono"


@pytest.mark.realdata
def test_held_out_cell_type_is_predicted_far_better_than_control(data_dir):
    adata = cfs.datasets.kang2018(data_dir)
    stimulated = (adata.obs["condition"] == "stimulated").to_numpy()
    of_type = (adata.obs["cell_type"] == HELD_OUT).to_numpy()
    train = adata[~(stimulated & of_type)].copy()
    ctrl = adata[~stimulated & of_type].copy()
    real = adata[stimulated & of_type].X.toarray()
    control = ctrl.X.toarray()

    cfs.CaLMFlowPerturb.setup_anndata(
        train, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    )
    scvi.settings.seed = 0
    model = cfs.CaLMFlowPerturb(train)
    model.train(max_epochs=25, accelerator="cpu", enable_progress_bar=False)
    pred = model.predict(ctrl, perturbation="stimulated", inplace=False).X

    top = top_changed_genes(real, control, 50)
    observed_change = real.mean(0)[top] - control.mean(0)[top]
    predicted_change = pred.mean(0)[top] - control.mean(0)[top]
    pearson_delta = np.corrcoef(predicted_change, observed_change)[0, 1]
    # control-as-prediction has no change at all: its Pearson delta is undefined (0 at best)
    assert pearson_delta > 0.8

    pca = PCA(50, random_state=0).fit(adata.X.toarray())
    model_distance = energy_distance(pca.transform(pred), pca.transform(real))
    control_distance = energy_distance(pca.transform(control), pca.transform(real))
    assert model_distance < 0.5 * control_distance, (model_distance, control_distance)
