"""Where each state token sits in a CaLMFlow sequence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SequenceLayout:
    """Token layout: the prompt, then state blocks in time-major order.

    After ``prompt_length`` prompt tokens (left-padded) come, for each time point ``t`` and
    each trajectory ``p``, the ``S`` spatial tokens of state ``x_{t, p}``. The output tokens
    of block ``(t, p)`` predict state ``x_{t + 1, p}``.

    Parameters
    ----------
    prompt_length
        Number of (padded) prompt tokens.
    n_time_points
        Number of time points fed to the model (``K`` during training).
    n_trajectories
        Number ``P`` of trajectories per sequence.
    n_spatial_tokens
        Number ``S`` of tokens per state.
    """

    prompt_length: int
    n_time_points: int
    n_trajectories: int
    n_spatial_tokens: int

    @property
    def block_size(self) -> int:
        """Tokens per time point: ``P * S``."""
        return self.n_trajectories * self.n_spatial_tokens

    @property
    def length(self) -> int:
        """Total number of tokens."""
        return self.prompt_length + self.n_time_points * self.block_size

    def block_positions(self, t: int, p: int) -> np.ndarray:
        """Token positions of state ``x_{t, p}``; their outputs predict ``x_{t + 1, p}``."""
        if not (0 <= t < self.n_time_points and 0 <= p < self.n_trajectories):
            raise IndexError(f"Block ({t}, {p}) is outside the layout.")
        start = self.prompt_length + t * self.block_size + p * self.n_spatial_tokens
        return np.arange(start, start + self.n_spatial_tokens)
