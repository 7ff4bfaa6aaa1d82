from __future__ import annotations

import numpy as np
import torch

from calmflow_sc.data import ControlPool, SequenceBuilder, SequenceDataset, sequence_loader


def builder(pool: bool = True, n_trajectories: int = 1, path_sigma: float = 0.0):
    """Targets 0..5 in two conditions of one context; controls at 0, 10, 20 (one context)."""
    states = torch.tensor(
        [[20.5, 20.0], [0.5, 0.0], [10.5, 10.0], [0.0, 0.5], [10.0, 10.5], [20.0, 20.5]]
    )
    controls = ControlPool.build(
        torch.tensor([[0.0, 0.0], [10.0, 10.0], [20.0, 20.0]]), np.zeros(3, int), 1, 1
    )
    return SequenceBuilder(
        states=states,
        conditions=np.array([0, 0, 0, 1, 1, 1]),
        contexts=np.zeros(6, dtype=int),
        pool=controls if pool else None,
        n_steps=4,
        n_trajectories=n_trajectories,
        path_sigma=path_sigma,
    )


def test_paths_run_from_paired_controls_to_the_targets():
    make = builder()
    batch = make(np.arange(6), torch.Generator().manual_seed(0))
    states = batch["states"][:, :, 0]  # P = 1
    assert batch["states"].shape == (6, 5, 1, 2)
    torch.testing.assert_close(states[:, -1], make.states)
    np.testing.assert_array_equal(batch["condition"], [0, 0, 0, 1, 1, 1])
    sources = states[:, 0]
    assert all(any(torch.equal(s, c) for c in make.pool.states) for s in sources)
    torch.testing.assert_close(states[:, 2], (sources + make.states) / 2)  # straight paths
    # within each condition, no swap of partners lowers the transport cost
    for members in (np.arange(3), np.arange(3, 6)):
        src, tgt = sources[members], make.states[members]
        cost = ((src - tgt) ** 2).sum()
        for i in range(3):
            for j in range(3):
                swapped = src.clone()
                swapped[[i, j]] = swapped[[j, i]]
                assert cost <= ((swapped - tgt) ** 2).sum() + 1e-6


def test_gaussian_sources_and_packed_trajectories():
    make = builder(pool=False, n_trajectories=3)
    batch = make(np.arange(6), torch.Generator().manual_seed(0))
    assert batch["states"].shape == (2, 5, 3, 2)  # two conditions, three trajectories each
    ends = batch["states"][:, -1]
    for sequence, condition in zip(ends, batch["condition"], strict=True):
        members = make.states[make.conditions == int(condition)]
        assert all(any(torch.equal(e, m) for m in members) for e in sequence)
    assert not any(torch.equal(batch["states"][0, 0, 0], c) for c in builder().pool.states)


def test_a_generator_fixes_every_draw():
    make = builder(path_sigma=1.0)
    first = make(np.arange(6), torch.Generator().manual_seed(5))["states"]
    again = make(np.arange(6), torch.Generator().manual_seed(5))["states"]
    other = make(np.arange(6), torch.Generator().manual_seed(6))["states"]
    torch.testing.assert_close(first, again)
    assert (first - other).abs().max() > 1e-3


def test_validation_minibatches_repeat_and_training_minibatches_do_not():
    make = builder(path_sigma=1.0)
    fixed = sequence_loader(SequenceDataset(make, np.arange(6), seed=0), 4, shuffle=False)
    drawn = sequence_loader(SequenceDataset(make, np.arange(6)), 4, shuffle=True)
    epochs = [[b["states"] for b in fixed] for _ in range(2)]
    assert [len(b) for b in epochs[0]] == [4, 2]
    for a, b in zip(*epochs, strict=True):
        torch.testing.assert_close(a, b)
    torch.manual_seed(0)
    one, two = (torch.cat([b["states"] for b in drawn]) for _ in range(2))
    assert one.shape == (6, 5, 1, 2)
    assert (one - two).abs().max() > 1e-3


def test_control_pool_means_are_the_mean_of_the_cells_each_context_draws_from():
    states = torch.tensor([[0.0, 0.0], [2.0, 4.0], [10.0, 10.0]])
    pool = ControlPool.build(states, np.array([0, 0, 1]), 3, 1)  # context 2 has none: all
    torch.testing.assert_close(
        pool.means(), torch.tensor([[1.0, 2.0], [10.0, 10.0], [4.0, 14.0 / 3.0]])
    )


def test_a_share_of_targets_read_the_second_variant_of_their_condition():
    make = builder()
    plain = make(np.arange(6), torch.Generator().manual_seed(0))
    # conditions 0, 1; their second variants are rows 2, 3
    make.variant_weights, make.n_conditions = (0.5, 0.5), 2
    seen = []
    for seed in range(20):
        batch = make(np.arange(6), torch.Generator().manual_seed(seed))
        as_if = batch["condition"] >= 2
        # the same targets, each sequence under its condition or its variant
        torch.testing.assert_close(batch["states"][:, -1, 0].sum(), make.states.sum())
        assert set((batch["condition"] % 2).tolist()) <= set(plain["condition"].tolist())
        seen.append(as_if.float().mean())
    assert 0.35 < float(np.mean(seen)) < 0.65
