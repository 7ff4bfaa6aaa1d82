from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from calmflow_sc.data import ControlPool, Coupling


def pool_of(controls: np.ndarray, contexts: np.ndarray, n_contexts: int) -> ControlPool:
    return ControlPool.build(
        torch.as_tensor(controls, dtype=torch.float32), contexts, n_contexts, 1
    )


def test_equal_groups_are_coupled_by_the_cheapest_permutation():
    rng = np.random.default_rng(0)
    controls = rng.normal(size=(5, 3))
    targets = rng.normal(size=(5, 3))
    pool = pool_of(controls, np.zeros(5, int), 1)
    coupling = Coupling.fit(
        torch.as_tensor(targets, dtype=torch.float32),
        conditions=np.zeros(5, int),
        contexts=np.zeros(5, int),
        targets=np.arange(5),
        pool=pool,
    )
    assert np.diff(coupling.indptr).tolist() == [1] * 5  # a permutation: one partner each
    pooled = pool.states.numpy()
    partners = pooled[coupling.partners]
    cost = ((partners - targets) ** 2).sum()
    best = min(((pooled[list(p)] - targets) ** 2).sum() for p in itertools.permutations(range(5)))
    assert cost == pytest.approx(best, rel=1e-5)
    np.testing.assert_array_equal(coupling.sample(np.arange(5)), coupling.partners)


def test_conditions_are_coupled_with_their_own_context_only():
    # context 0: controls near 0; context 1: controls near 100
    controls = np.array([[0.0], [1.0], [100.0], [101.0], [102.0]])
    pool = pool_of(controls, np.array([0, 0, 1, 1, 1]), 2)
    states = torch.tensor([[5.0], [6.0], [7.0], [50.0], [51.0]])
    coupling = Coupling.fit(
        states,
        conditions=np.array([0, 0, 0, 1, 1]),
        contexts=np.array([0, 0, 0, 1, 1]),
        targets=np.arange(5),
        pool=pool,
    )
    pooled = pool.states.numpy().ravel()
    for cell, limit in [(0, 1.0), (1, 1.0), (2, 1.0), (3, 102.0), (4, 102.0)]:
        partners = pooled[coupling.partners[coupling.indptr[cell] : coupling.indptr[cell + 1]]]
        assert len(partners) > 0
        assert (partners <= limit).all() and (partners >= limit - 2).all()
    # unequal sizes: each row's weights are a distribution
    ends = coupling.cumulative[coupling.indptr[1:] - 1]
    np.testing.assert_allclose(ends, 1.0)


def test_large_groups_are_split_into_chunks_that_each_get_partners():
    rng = np.random.default_rng(1)
    pool = pool_of(rng.normal(size=(30, 2)), np.zeros(30, int), 1)
    states = torch.as_tensor(rng.normal(size=(25, 2)), dtype=torch.float32)
    coupling = Coupling.fit(
        states, np.zeros(25, int), np.zeros(25, int), np.arange(25), pool, max_cells=8
    )
    assert (np.diff(coupling.indptr) >= 1).all()
    assert set(coupling.partners) <= set(range(30))


def test_sampling_follows_the_weights_and_refuses_cells_without_partners():
    coupling = Coupling(
        indptr=np.array([0, 2, 2]), partners=np.array([4, 7]), cumulative=np.array([0.25, 1.0])
    )
    draws = coupling.sample(np.zeros(4000, int), torch.Generator().manual_seed(0))
    assert set(draws) == {4, 7}
    assert (draws == 4).mean() == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="no coupled control"):
        coupling.sample(np.array([1]))
