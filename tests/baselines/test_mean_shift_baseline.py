from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.baselines import MeanShiftBaseline


@pytest.fixture
def baseline(train_adata):
    return MeanShiftBaseline(
        train_adata, "condition", "control", cell_type_key="cell_type", clip=False
    ).train()


def _prediction(baseline, ctrl_adata, perturbation):
    baseline.predict(ctrl_adata, perturbation, key_added="pred")
    return ctrl_adata.layers["pred"].astype(np.float64)


def _cells(ctrl_adata, cell_type):
    return (ctrl_adata.obs["cell_type"] == cell_type).to_numpy()


def test_recovers_known_shifts(baseline, known_shifts):
    for (cell_type, perturbation), shift in known_shifts.items():
        np.testing.assert_allclose(baseline.shifts_[perturbation][cell_type], shift, atol=1e-5)
    assert baseline.perturbations == ["drugX", "g1", "g2", "stim"]
    assert set(baseline.shifts_["drugX"]) == {"B", "C"}


def test_own_cell_type_shift_is_used(baseline, ctrl_adata, known_shifts):
    prediction = _prediction(baseline, ctrl_adata, "stim")
    for cell_type in ("A", "B"):
        cells = _cells(ctrl_adata, cell_type)
        np.testing.assert_allclose(
            prediction[cells], ctrl_adata.X[cells] + known_shifts[(cell_type, "stim")], atol=1e-5
        )


def test_unseen_cell_type_averages_other_cell_types(baseline, ctrl_adata, known_shifts):
    prediction = _prediction(baseline, ctrl_adata, "drugX")
    average = (known_shifts[("B", "drugX")] + known_shifts[("C", "drugX")]) / 2  # equal weights
    for cell_type in ("A", "D"):  # A has no drugX cells; D is not in the training data
        cells = _cells(ctrl_adata, cell_type)
        np.testing.assert_allclose(prediction[cells], ctrl_adata.X[cells] + average, atol=1e-5)
    cells = _cells(ctrl_adata, "B")
    np.testing.assert_allclose(
        prediction[cells], ctrl_adata.X[cells] + known_shifts[("B", "drugX")], atol=1e-5
    )
    cells = _cells(ctrl_adata, "C")
    average_stim = (known_shifts[("A", "stim")] + known_shifts[("B", "stim")]) / 2
    np.testing.assert_allclose(
        _prediction(baseline, ctrl_adata, "stim")[cells],
        ctrl_adata.X[cells] + average_stim,
        atol=1e-5,
    )


def test_combination_is_additive(baseline, ctrl_adata, known_shifts):
    expected_shift = known_shifts[("A", "g1")] + known_shifts[("A", "g2")]
    np.testing.assert_allclose(baseline.shift("g1+g2", "A"), expected_shift, atol=1e-5)
    prediction = _prediction(baseline, ctrl_adata, "g1+g2")
    cells = _cells(ctrl_adata, "A")
    np.testing.assert_allclose(prediction[cells], ctrl_adata.X[cells] + expected_shift, atol=1e-5)
    # mixing components of different origins and control components
    np.testing.assert_allclose(
        baseline.shift("g1+drugX", "B"),
        known_shifts[("A", "g1")] + known_shifts[("B", "drugX")],
        atol=1e-5,
    )
    np.testing.assert_allclose(
        baseline.shift("g1+control", "A"), known_shifts[("A", "g1")], atol=1e-5
    )
    np.testing.assert_array_equal(baseline.shift("control", "A"), np.zeros(6))


def test_unknown_perturbation_raises(baseline, ctrl_adata):
    with pytest.raises(ValueError, match="'foo' was not seen"):
        baseline.predict(ctrl_adata, "foo")
    with pytest.raises(ValueError, match=r"component\(s\) \['bar'\]"):
        baseline.predict(ctrl_adata, "g1+bar")
    assert "pred" not in ctrl_adata.layers


def test_training_adata_is_not_modified(train_adata, ctrl_adata):
    before = train_adata.copy()
    baseline = MeanShiftBaseline(train_adata, "condition", "control", cell_type_key="cell_type")
    baseline.train().predict(ctrl_adata, "stim")
    baseline.predict(ctrl_adata, "g1+g2", inplace=False)
    np.testing.assert_array_equal(train_adata.X, before.X)
    assert train_adata.obs.equals(before.obs)
    assert train_adata.var.equals(before.var)
    assert list(train_adata.layers) == list(before.layers)
    assert dict(train_adata.uns) == dict(before.uns)
    assert list(train_adata.obsm) == list(before.obsm)


def test_without_cell_types_and_sparse_layer(train_adata, ctrl_adata):
    for adata in (train_adata, ctrl_adata):
        adata.layers["lognorm"] = sparse.csr_matrix(adata.X)
        adata.X = np.zeros(adata.shape, dtype=np.float32)
    baseline = MeanShiftBaseline(train_adata, "condition", "control", layer="lognorm").train()
    # pooled over cell types: mean(all stim cells) - mean(all control cells)
    x = train_adata.layers["lognorm"].toarray().astype(np.float64)
    conditions = train_adata.obs["condition"].to_numpy()
    expected = x[conditions == "stim"].mean(0) - x[conditions == "control"].mean(0)
    np.testing.assert_allclose(baseline.shift("stim"), expected, atol=1e-5)
    result = baseline.predict(ctrl_adata, "stim", inplace=False)
    np.testing.assert_allclose(
        result.X, np.maximum(ctrl_adata.layers["lognorm"].toarray() + expected, 0), atol=1e-5
    )
    assert (result.obs["condition"] == "stim").all()
    assert result.X.dtype == np.float32


def test_predictions_are_clipped_at_zero(train_adata, ctrl_adata, known_shifts):
    ctrl_adata.X[:] = 0.1
    baseline = MeanShiftBaseline(train_adata, "condition", "control", cell_type_key="cell_type")
    baseline.train().predict(ctrl_adata, "stim", key_added="pred")
    prediction = ctrl_adata.layers["pred"]
    assert prediction.min() == 0.0
    cells = _cells(ctrl_adata, "A")
    np.testing.assert_allclose(
        prediction[cells],
        np.broadcast_to(np.maximum(0.1 + known_shifts[("A", "stim")], 0), (3, 6)),
        atol=1e-6,
    )


def test_predict_needs_the_cell_type_column(baseline, ctrl_adata):
    del ctrl_adata.obs["cell_type"]
    with pytest.raises(ValueError, match="cell_type"):
        baseline.predict(ctrl_adata, "stim")


def test_shift_requires_training(train_adata):
    baseline = MeanShiftBaseline(train_adata, "condition", "control")
    with pytest.raises(RuntimeError, match="train"):
        baseline.shift("stim")
    assert baseline.perturbations == []
