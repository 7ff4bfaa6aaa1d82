from __future__ import annotations

import itertools

import numpy as np
import pytest

from calmflow_sc.data import optimal_transport_pairing


def test_exact_ot_pairing_minimises_total_squared_distance():
    rng = np.random.default_rng(0)
    source, target = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    order = optimal_transport_pairing(source, target)
    assert sorted(order) == list(range(6))
    cost = ((source[order] - target) ** 2).sum()
    best = min(
        ((source[list(perm)] - target) ** 2).sum() for perm in itertools.permutations(range(6))
    )
    assert cost == pytest.approx(best)


def test_pairing_recovers_a_shuffled_translation():
    rng = np.random.default_rng(1)
    target = rng.normal(size=(30, 2)) * 5
    perm = rng.permutation(30)
    source = target[perm] + 0.01
    order = optimal_transport_pairing(source, target)
    np.testing.assert_array_equal(perm[order], np.arange(30))


def test_pairing_needs_equal_sizes():
    with pytest.raises(ValueError, match="as many sources"):
        optimal_transport_pairing(np.zeros((2, 1)), np.zeros((3, 1)))
