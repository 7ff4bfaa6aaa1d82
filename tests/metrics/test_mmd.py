from __future__ import annotations

import importlib

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics.pairwise import rbf_kernel

from calmflow_sc.metrics import DEFAULT_GAMMAS, mmd_rbf

mmd_module = importlib.import_module("calmflow_sc.metrics._mmd")


def test_default_gammas_are_cellflow_ones():
    assert DEFAULT_GAMMAS == (2, 1, 0.5, 0.1, 0.01, 0.005)


def test_hand_computed_single_points():
    assert mmd_rbf([[0.0]], [[1.0]], gammas=(1.0,)) == pytest.approx(2 - 2 * np.exp(-1))


def test_hand_computed_two_points_averaged_over_gammas():
    x = np.array([[0.0], [1.0]])
    y = np.array([[3.0]])

    def by_hand(g):
        k_xx = (1 + 1 + 2 * np.exp(-g)) / 4  # V-statistic: diagonal included
        k_yy = 1.0
        k_xy = (np.exp(-9 * g) + np.exp(-4 * g)) / 2
        return k_xx + k_yy - 2 * k_xy

    assert mmd_rbf(x, y, gammas=(1.0, 0.5)) == pytest.approx((by_hand(1.0) + by_hand(0.5)) / 2)


def test_matches_sklearn_rbf_kernel_with_blocks(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(31, 4))
    y = rng.normal(loc=0.3, size=(17, 4))
    expected = np.mean(
        [
            rbf_kernel(x, x, gamma=g).mean()
            + rbf_kernel(y, y, gamma=g).mean()
            - 2 * rbf_kernel(x, y, gamma=g).mean()
            for g in DEFAULT_GAMMAS
        ]
    )
    monkeypatch.setattr(mmd_module, "_BLOCK_ELEMENTS", 40)
    assert mmd_rbf(x, y) == pytest.approx(expected, rel=1e-10)
    assert mmd_rbf(sparse.csr_matrix(x), y) == pytest.approx(expected, rel=1e-10)


def test_zero_for_identical_symmetric_and_grows_with_shift():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(20, 3))
    y = rng.normal(size=(25, 3))
    assert mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)
    assert mmd_rbf(x, y) == pytest.approx(mmd_rbf(y, x))
    values = [mmd_rbf(x, y + shift) for shift in (0.0, 0.5, 1.0, 3.0)]
    assert np.all(np.diff(values) > 0)


def test_errors():
    with pytest.raises(ValueError, match="gammas"):
        mmd_rbf([[0.0]], [[1.0]], gammas=())
    with pytest.raises(ValueError, match="gammas"):
        mmd_rbf([[0.0]], [[1.0]], gammas=(1.0, -1.0))
    with pytest.raises(ValueError, match="same number of features"):
        mmd_rbf(np.zeros((2, 2)), np.zeros((2, 3)))
