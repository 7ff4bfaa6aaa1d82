from __future__ import annotations

import torch

from calmflow_sc.data import sample_paths, time_grid


def test_straight_paths_interpolate_linearly():
    source, target = torch.zeros(3, 2), torch.ones(3, 2) * 4
    states = sample_paths(source, target, n_steps=4)
    assert states.shape == (3, 5, 2)
    torch.testing.assert_close(states[:, :, 0], torch.tensor([[0.0, 1, 2, 3, 4]] * 3))
    torch.testing.assert_close(time_grid(4), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]))


def test_bridge_noise_is_pinned_and_has_bridge_variance():
    n = 20000
    source, target = torch.zeros(n, 1), torch.zeros(n, 1)
    states = sample_paths(
        source, target, n_steps=4, sigma=2.0, generator=torch.Generator().manual_seed(0)
    )
    assert states[:, 0].abs().max() == 0 and states[:, -1].abs().max() < 1e-6
    t = time_grid(4)
    expected = 4.0 * t * (1 - t)  # sigma^2 t (1 - t)
    torch.testing.assert_close(states[:, :, 0].var(0), expected, atol=0.05, rtol=0.05)
    # consecutive states are correlated, as along one diffusion path
    correlation = torch.corrcoef(states[:, 1:3, 0].T)[0, 1]
    assert correlation > 0.4
