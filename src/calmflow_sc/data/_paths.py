"""Probability paths between source and target states."""

from __future__ import annotations

import torch


def time_grid(n_steps: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Uniform grid ``0 = t_0 < ... < t_K = 1`` with ``K = n_steps`` transitions."""
    return torch.linspace(0.0, 1.0, n_steps + 1, device=device)


def sample_paths(
    source: torch.Tensor,
    target: torch.Tensor,
    n_steps: int,
    sigma: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """States along straight paths from ``source`` to ``target``, optionally with bridge noise.

    ``x_t = (1 - t) x_0 + t x_1 + sigma * B_t`` where ``B`` is a standard Brownian bridge
    pinned to 0 at both ends (``Var B_t = t (1 - t)``), sampled jointly across the grid so that
    consecutive states are correlated as along a real diffusion path.

    Parameters
    ----------
    source
        Source states ``x_0`` of shape ``(n, D)``.
    target
        Target states ``x_1`` of shape ``(n, D)``.
    n_steps
        Number ``K`` of transitions; ``K + 1`` states are returned.
    sigma
        Scale of the Brownian-bridge noise; 0 gives straight, noise-free paths.
    generator
        Random generator for the bridge noise.

    Returns
    -------
    States of shape ``(n, K + 1, D)``.
    """
    t = time_grid(n_steps, device=source.device).to(source.dtype).view(1, -1, 1)
    states = (1.0 - t) * source.unsqueeze(1) + t * target.unsqueeze(1)
    if sigma > 0:
        n, d = source.shape
        increments = (
            torch.randn(n, n_steps, d, generator=generator, device="cpu", dtype=torch.float32).to(
                device=source.device, dtype=source.dtype
            )
            * (1.0 / n_steps) ** 0.5
        )
        brownian = torch.cat([torch.zeros_like(increments[:, :1]), increments.cumsum(1)], dim=1)
        bridge = brownian - t * brownian[:, -1:]
        states = states + sigma * bridge
    return states
