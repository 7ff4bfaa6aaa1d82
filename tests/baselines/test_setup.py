from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calmflow_sc.baselines import ControlBaseline, LinearBaseline, MeanShiftBaseline
from calmflow_sc.baselines._base import SETUP_KEY


def test_setup_anndata_registers_the_keys(train_adata, ctrl_adata):
    MeanShiftBaseline.setup_anndata(
        train_adata,
        perturbation_key="condition",
        control_value="control",
        cell_type_key="cell_type",
    )
    assert train_adata.uns[SETUP_KEY]["cell_type_key"] == "cell_type"
    baseline = MeanShiftBaseline(train_adata).train()
    assert baseline.cell_type_key == "cell_type"
    explicit = MeanShiftBaseline(
        train_adata, "condition", "control", cell_type_key="cell_type"
    ).train()
    known = ctrl_adata[ctrl_adata.obs["cell_type"] != "D"].copy()
    np.testing.assert_allclose(
        baseline.predict(known, "stim", inplace=False).X,
        explicit.predict(known, "stim", inplace=False).X,
    )
    # a key left as None is taken from the registration
    assert MeanShiftBaseline(train_adata, cell_type_key=None).cell_type_key == "cell_type"
    # the registration travels with subsets
    assert ControlBaseline(train_adata[:10].copy()).cell_type_key == "cell_type"


def test_setup_anndata_validates_before_writing(train_adata):
    with pytest.raises(KeyError, match="cell_kind"):
        LinearBaseline.setup_anndata(train_adata, "condition", "control", cell_type_key="cell_kind")
    with pytest.raises(ValueError, match="control_value"):
        LinearBaseline.setup_anndata(train_adata, "condition", "ctrl")
    assert SETUP_KEY not in train_adata.uns


def test_generate_draws_controls_of_the_right_cell_type(train_adata, known_shifts):
    MeanShiftBaseline.setup_anndata(train_adata, "condition", "control", cell_type_key="cell_type")
    baseline = MeanShiftBaseline(train_adata, clip=False).train()
    obs = pd.DataFrame({"cell_type": ["A"] * 50 + ["B"] * 50, "condition": ["stim"] * 100})
    generated = baseline.generate(obs, seed=0)
    assert generated.shape == (100, train_adata.n_vars)
    assert generated.obs["cell_type"].tolist() == obs["cell_type"].tolist()
    for cell_type in ("A", "B"):
        controls = train_adata[
            (train_adata.obs["cell_type"] == cell_type)
            & (train_adata.obs["condition"] == "control")
        ].X
        rows = generated.X[(generated.obs["cell_type"] == cell_type).to_numpy()]
        # every generated cell is a control cell of that type plus the exact shift
        shifted = controls + known_shifts[(cell_type, "stim")]
        distance = np.abs(rows[:, None, :] - shifted[None, :, :]).max(-1).min(1)
        assert distance.max() < 1e-5
    np.testing.assert_array_equal(generated.X, baseline.generate(obs, seed=0).X)
    with pytest.raises(KeyError, match="cell_type"):
        baseline.generate(obs[["condition"]])
