from __future__ import annotations

import importlib

import numpy as np
import pytest
from scipy import sparse
from scipy.spatial.distance import cdist

from calmflow_sc.metrics import energy_distance

energy_module = importlib.import_module("calmflow_sc.metrics._energy")


def _brute_force(x, y, squared, unbiased):
    metric = "sqeuclidean" if squared else "euclidean"
    n, m = len(x), len(y)
    within_x = cdist(x, x, metric).sum() / (n * (n - 1) if unbiased else n * n)
    within_y = cdist(y, y, metric).sum() / (m * (m - 1) if unbiased else m * m)
    return 2 * cdist(x, y, metric).mean() - within_x - within_y


def test_hand_computed_two_points_vs_one():
    x = np.array([[0.0], [1.0]])
    y = np.array([[2.0]])
    # between: (2 + 1) / 2 = 1.5; within x over n^2 pairs: (0 + 1 + 1 + 0) / 4 = 0.5
    assert energy_distance(x, y) == pytest.approx(2 * 1.5 - 0.5 - 0.0)
    # squared: between (4 + 1) / 2 = 2.5; within x 2 / 4 = 0.5
    assert energy_distance(x, y, squared=True) == pytest.approx(2 * 2.5 - 0.5 - 0.0)


def test_hand_computed_both_normalisations():
    x = np.array([[0.0], [1.0]])
    y = np.array([[2.0], [4.0]])
    # |x_i - y_j|: 2, 4, 1, 3 -> mean 2.5; sum within x = 2, sum within y = 4
    assert energy_distance(x, y) == pytest.approx(5.0 - 2 / 4 - 4 / 4)
    assert energy_distance(x, y, unbiased=True) == pytest.approx(5.0 - 2 / 2 - 4 / 2)
    # squared: 4, 16, 1, 9 -> mean 7.5; sum within x = 2, sum within y = 8
    assert energy_distance(x, y, squared=True) == pytest.approx(15.0 - 2 / 4 - 8 / 4)
    assert energy_distance(x, y, squared=True, unbiased=True) == pytest.approx(15.0 - 1 - 4)


def test_squared_biased_is_twice_squared_mean_difference():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    y = rng.normal(loc=1.0, size=(20, 4))
    expected = 2 * np.sum((x.mean(0) - y.mean(0)) ** 2)
    assert energy_distance(x, y, squared=True) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("unbiased", [False, True])
def test_matches_brute_force_with_blocks(monkeypatch, squared, unbiased):
    rng = np.random.default_rng(1)
    x = rng.normal(loc=100.0, size=(37, 5))  # far from the origin: checks the centring
    y = rng.normal(loc=100.5, size=(23, 5))
    monkeypatch.setattr(energy_module, "_BLOCK_ELEMENTS", 50)  # force several row blocks
    value = energy_distance(x, y, squared=squared, unbiased=unbiased)
    assert value == pytest.approx(_brute_force(x, y, squared, unbiased), rel=1e-9)


@pytest.mark.parametrize("squared", [False, True])
def test_identical_samples_give_zero(squared):
    x = np.random.default_rng(2).normal(size=(25, 3))
    assert energy_distance(x, x, squared=squared) == 0.0
    assert energy_distance(x, x.copy(), squared=squared) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("squared", [False, True])
def test_symmetric_and_grows_with_shift(squared):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 3))
    y = rng.normal(size=(30, 3))
    assert energy_distance(x, y, squared=squared) == pytest.approx(
        energy_distance(y, x, squared=squared)
    )
    values = [energy_distance(x, y + shift, squared=squared) for shift in (0.0, 1.0, 2.0, 4.0)]
    assert np.all(np.diff(values) > 0)
    assert values[0] >= 0


def test_unbiased_is_negative_for_identical_samples():
    x = np.array([[0.0], [1.0], [3.0]])
    assert energy_distance(x, x, unbiased=True) < 0


def test_sparse_and_integer_input():
    rng = np.random.default_rng(4)
    x = rng.poisson(1.0, size=(20, 8))
    y = rng.poisson(2.0, size=(15, 8))
    expected = _brute_force(x.astype(float), y.astype(float), False, False)
    assert energy_distance(sparse.csr_matrix(x), sparse.csr_matrix(y)) == pytest.approx(expected)
    assert energy_distance(x, sparse.csc_matrix(y)) == pytest.approx(expected)


def test_errors():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="same number of features"):
        energy_distance(x, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="at least two cells"):
        energy_distance(x, np.zeros((1, 2)), unbiased=True)
    with pytest.raises(ValueError, match="no rows"):
        energy_distance(x, np.zeros((0, 2)))
    with pytest.raises(ValueError, match="2-D"):
        energy_distance(np.zeros(3), np.zeros(3))


def test_matches_pertpy():
    pt = pytest.importorskip("pertpy")
    rng = np.random.default_rng(5)
    x = rng.normal(size=(30, 5))
    y = rng.normal(loc=0.5, size=(25, 5))
    distance = pt.tl.Distance(metric="edistance")
    # pertpy used squared Euclidean distances in versions 0.6-0.10, Euclidean ones before and since
    squared = getattr(distance.metric_fct, "cell_wise_metric", "euclidean") == "sqeuclidean"
    assert energy_distance(x, y, squared=squared) == pytest.approx(distance(x, y), rel=1e-6)
