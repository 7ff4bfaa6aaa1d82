from __future__ import annotations

import numpy as np

from calmflow_sc.data import pack_trajectories


def test_packing_keeps_conditions_apart_and_uses_every_cell():
    rng = np.random.default_rng(0)
    groups = np.array([0] * 7 + [1] * 4 + [2] * 1)
    packed = pack_trajectories(groups, 3, rng)
    assert packed.shape[1] == 3
    # one condition per sequence
    assert all(len(set(groups[row])) == 1 for row in packed)
    assert set(packed.ravel()) == set(range(len(groups)))
    # filled up to a multiple of P: 7 -> 9, 4 -> 6, 1 -> 3
    assert len(packed) == 3 + 2 + 1


def test_single_trajectory_is_identity():
    packed = pack_trajectories(np.array([3, 1, 2]), 1, np.random.default_rng(0))
    np.testing.assert_array_equal(packed[:, 0], [0, 1, 2])
