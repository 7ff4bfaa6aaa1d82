"""States in model space <-> spatial tokens of the language model's width."""

from __future__ import annotations

import torch
from torch import nn


class StateTokenizer(nn.Module):
    """Map a state ``x`` in ``R^D`` to ``S`` tokens of width ``H`` with a learned MLP.

    As in CaLMFlow, the state is not cut into chunks: an MLP maps it to ``S * H`` numbers,
    reshaped into ``S`` tokens. A learned embedding of the time index is added to every token,
    so that the time point is known whatever the prompt length.

    Parameters
    ----------
    n_dims
        Dimension ``D`` of the state.
    hidden_size
        Token width ``H`` of the language model.
    n_spatial_tokens
        Number ``S`` of tokens per state.
    n_time_points
        Number of time points ``K + 1`` of the discretised flow.
    """

    def __init__(self, n_dims: int, hidden_size: int, n_spatial_tokens: int, n_time_points: int):
        super().__init__()
        self.n_spatial_tokens = n_spatial_tokens
        self.hidden_size = hidden_size
        self.encoder = nn.Sequential(
            nn.Linear(n_dims, hidden_size * 2),
            nn.GELU(),
            nn.Linear(hidden_size * 2, hidden_size * n_spatial_tokens),
        )
        self.time_embedding = nn.Embedding(n_time_points, hidden_size)

    def forward(self, states: torch.Tensor, time_index: torch.Tensor) -> torch.Tensor:
        """Tokenise states.

        Parameters
        ----------
        states
            States of shape ``(..., D)``.
        time_index
            Integer time index broadcastable to ``states.shape[:-1]``.

        Returns
        -------
        Tokens of shape ``(..., S, H)``.
        """
        tokens = self.encoder(states).unflatten(-1, (self.n_spatial_tokens, self.hidden_size))
        return tokens + self.time_embedding(time_index).unsqueeze(-2)
