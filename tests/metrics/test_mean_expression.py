from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.metrics import mean_expression_scores, top_changed_genes


@pytest.fixture
def cells():
    """Control cells and perturbed cells whose effect is confined to the first five genes."""
    rng = np.random.default_rng(0)
    n_genes = 2000
    base = rng.uniform(1.0, 3.0, size=n_genes)
    effect = np.zeros(n_genes)
    effect[:5] = [3.0, -2.0, 1.5, 1.0, -0.5]
    effect[5:] = rng.normal(scale=0.05, size=n_genes - 5)
    control = base + rng.normal(scale=0.3, size=(200, n_genes))
    real = base + effect + rng.normal(scale=0.3, size=(150, n_genes))
    return control, real


def test_perfect_prediction(cells):
    control, real = cells
    scores = mean_expression_scores(real, real, control)
    assert scores == pytest.approx({"r2": 1.0, "pearson": 1.0, "pearson_delta": 1.0})


def test_control_as_prediction_has_no_delta_correlation(cells):
    control, real = cells
    rng = np.random.default_rng(1)
    # an independent draw of control cells as the "prediction"
    pred = control.mean(0) + rng.normal(scale=0.3, size=(200, control.shape[1]))
    scores = mean_expression_scores(pred, real, control)
    assert abs(scores["pearson_delta"]) < 0.1
    # yet the plain mean correlation is high: the effect is small compared with the baseline
    assert scores["pearson"] > 0.9
    assert scores["r2"] == pytest.approx(scores["pearson"] ** 2)


def test_r2_is_squared_pearson_and_affine_invariant(cells):
    _, real = cells
    scores = mean_expression_scores(2.0 * real + 1.0, real)
    assert scores["r2"] == pytest.approx(1.0)
    assert "pearson_delta" not in scores
    anti = mean_expression_scores(-real, real)
    assert anti["pearson"] == pytest.approx(-1.0)
    assert anti["r2"] == pytest.approx(1.0)


def test_hand_computed_pearson():
    pred = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 5.0]])  # mean (1, 2, 4)
    real = np.array([1.0, 3.0, 2.0])  # a 1-D array is a mean profile
    control = np.array([0.0, 1.0, 1.0])
    # means: pred (1, 2, 4), real (1, 3, 2): centred (-4/3, -1/3, 5/3) and (-1, 1, 0)
    r = (4 / 3 - 1 / 3) / np.sqrt((16 + 1 + 25) / 9 * 2)
    # deltas: pred (1, 1, 3), real (1, 2, 1): centred (-2/3, -2/3, 4/3) and (-1/3, 2/3, -1/3)
    r_delta = (2 / 9 - 4 / 9 - 4 / 9) / np.sqrt((4 + 4 + 16) / 9 * (1 + 4 + 1) / 9)
    scores = mean_expression_scores(pred, real, control)
    assert scores["pearson"] == pytest.approx(r)
    assert scores["r2"] == pytest.approx(r**2)
    assert scores["pearson_delta"] == pytest.approx(r_delta)


def test_top_k_and_de_genes_select_the_same_genes(cells):
    control, real = cells
    assert set(top_changed_genes(real, control, 5)) == {0, 1, 2, 3, 4}
    rng = np.random.default_rng(2)
    pred = real + rng.normal(scale=0.5, size=real.shape)
    by_top_k = mean_expression_scores(pred, real, control, top_k=5)
    by_index = mean_expression_scores(pred, real, control, de_genes=np.arange(5))
    mask = np.zeros(real.shape[1], dtype=bool)
    mask[:5] = True
    by_mask = mean_expression_scores(pred, real, control, de_genes=mask)
    assert by_top_k == pytest.approx(by_index)
    assert by_top_k == pytest.approx(by_mask)
    assert by_top_k != pytest.approx(mean_expression_scores(pred, real, control))


def test_top_changed_genes_order_and_ties():
    control = np.zeros((2, 4))
    real = np.array([[1.0, -3.0, 1.0, 2.0], [1.0, -3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(top_changed_genes(real, control, 4), [1, 3, 0, 2])
    np.testing.assert_array_equal(top_changed_genes(real, control, 2), [1, 3])
    with pytest.raises(ValueError, match="between 1 and"):
        top_changed_genes(real, control, 5)
    with pytest.raises(ValueError, match="between 1 and"):
        top_changed_genes(real, control, 0)


def test_sparse_input(cells):
    control, real = cells
    control, real = np.clip(control, 0, None), np.clip(real, 0, None)
    pred = real[::2]
    dense = mean_expression_scores(pred, real, control, top_k=20)
    sparse_scores = mean_expression_scores(
        sparse.csr_matrix(pred), sparse.csr_matrix(real), sparse.csc_matrix(control), top_k=20
    )
    assert sparse_scores == pytest.approx(dense)


def test_undefined_correlation_is_nan():
    scores = mean_expression_scores(np.ones((3, 4)), np.arange(4.0))
    assert np.isnan(scores["pearson"])
    assert np.isnan(scores["r2"])


def test_errors(cells):
    control, real = cells
    with pytest.raises(ValueError, match="at most one"):
        mean_expression_scores(real, real, control, top_k=5, de_genes=[0, 1])
    with pytest.raises(ValueError, match="pass `control`"):
        mean_expression_scores(real, real, top_k=5)
    with pytest.raises(ValueError, match="genes"):
        mean_expression_scores(real[:, :10], real, control)
    with pytest.raises(ValueError, match="outside"):
        mean_expression_scores(real, real, control, de_genes=[0, 5000])
    with pytest.raises(ValueError, match="integer gene indices"):
        mean_expression_scores(real, real, control, de_genes=[0.5, 1.0])
