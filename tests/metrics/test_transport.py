from __future__ import annotations

import warnings

import numpy as np
import pytest

from calmflow_sc.metrics import sinkhorn_divergence, wasserstein
from calmflow_sc.metrics._transport import mean_squared_distance


def test_wasserstein_of_a_translation_is_its_length():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    shift = np.array([3.0, 4.0, 0.0])
    assert wasserstein(x, x + shift) == pytest.approx(5.0)
    assert wasserstein(x, x + shift, p=1) == pytest.approx(5.0)
    assert wasserstein(x, x) == pytest.approx(0.0, abs=1e-9)


def test_wasserstein_by_hand():
    # two points against two points: the optimal plan pairs 0 with 1 and 2 with 4
    x = np.array([[0.0], [2.0]])
    y = np.array([[1.0], [4.0]])
    assert wasserstein(x, y, p=2) == pytest.approx(np.sqrt((1.0 + 4.0) / 2))
    assert wasserstein(x, y, p=1) == pytest.approx((1.0 + 2.0) / 2)
    # unequal sizes: one point against two, each pair weighs 1/2
    assert wasserstein(np.array([[0.0]]), y, p=2) == pytest.approx(np.sqrt((1 + 16) / 2))


def test_sinkhorn_divergence_limits():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 2))
    y = x + np.array([2.0, 0.0])
    assert sinkhorn_divergence(x, x) == pytest.approx(0.0, abs=1e-6)
    # a small regularisation recovers W2^2 = 4 for a translation
    assert sinkhorn_divergence(x, y, epsilon=0.05) == pytest.approx(4.0, rel=0.05)
    assert sinkhorn_divergence(x, y, epsilon=1.0) > sinkhorn_divergence(x, x + 0.5, epsilon=1.0)


def test_sinkhorn_divergence_is_stable_for_distant_cells():
    """Squared distances in the thousands (raw expression, wide PCAs) underflow exp(-C/eps)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 30)) * 20
    y = rng.normal(size=(150, 30)) * 20 + 2
    assert sinkhorn_divergence(x, y, epsilon=1.0) == pytest.approx(wasserstein(x, y) ** 2, rel=0.01)


def test_default_epsilon_scales_with_the_observed_cells_and_converges_quietly():
    """PCA coordinates of real cells: mean squared distances in the hundreds."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 50)) * 2
    y = rng.normal(size=(500, 50)) * 2 + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning that it did not converge fails the test
        value = sinkhorn_divergence(x, y)
    assert mean_squared_distance(y) == pytest.approx(
        np.mean(((y[:, None, :] - y[None, :, :]) ** 2).sum(-1)) * 500 / 499, rel=1e-6
    )
    assert value == pytest.approx(sinkhorn_divergence(x, y, epsilon=0.1 * mean_squared_distance(y)))
    assert value > sinkhorn_divergence(x, x + 0.1)  # still a distance of the samples
    assert sinkhorn_divergence(x * 10, y * 10) == pytest.approx(100 * value, rel=1e-3)


def test_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ValueError, match="same number of features"):
        wasserstein(x, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn_divergence(x, x, epsilon=0)
    with pytest.raises(ValueError, match="`p`"):
        wasserstein(x, x, p=0)


def test_an_unconverged_sinkhorn_gives_one_warning_of_ours():
    import warnings

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 5)), rng.normal(3.0, 1.0, size=(50, 5))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = sinkhorn_divergence(x, y, epsilon=1e-4)
    messages = [str(w.message) for w in caught]
    assert np.isfinite(value)
    assert len(messages) == 1 and "epsilon=0.0001" in messages[0], messages
