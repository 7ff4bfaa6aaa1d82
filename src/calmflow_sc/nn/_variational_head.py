"""Variational decoding of the language model's outputs into next states."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class VariationalSample(NamedTuple):
    """Latent sample of a group of ``S`` tokens and its Gaussian parameters."""

    z: torch.Tensor
    mean: torch.Tensor
    variance: torch.Tensor


class VariationalHead(nn.Module):
    """Per-token Gaussian latent, the ``S`` latents of a time point decoded together.

    Each output token ``h`` goes through two small MLPs to a mean ``mu`` and a variance
    ``sigma^2 = exp(.) + 1e-4``; a latent ``z = mu + tau * sigma * eps`` is drawn with
    temperature ``tau``. The ``S`` latents of a time point are concatenated and decoded to the
    next state by an MLP.

    Parameters
    ----------
    hidden_size
        Token width ``H``.
    n_spatial_tokens
        Number ``S`` of tokens per state.
    n_latent
        Latent dimension per token.
    n_dims
        Dimension ``D`` of the state.
    """

    min_variance = 1e-4

    def __init__(self, hidden_size: int, n_spatial_tokens: int, n_latent: int, n_dims: int):
        super().__init__()
        self.n_latent = n_latent
        self.n_spatial_tokens = n_spatial_tokens
        self.mean_net = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, n_latent)
        )
        self.log_variance_net = nn.Sequential(
            nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Linear(hidden_size, n_latent)
        )
        width = n_spatial_tokens * n_latent
        self.decoder = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, n_dims)
        )

    def encode(
        self,
        hidden: torch.Tensor,
        temperature: float = 1.0,
        noise: torch.Tensor | None = None,
    ) -> VariationalSample:
        """Draw latents for output tokens.

        Parameters
        ----------
        hidden
            Output tokens of shape ``(..., S, H)``.
        temperature
            Scale ``tau`` of the noise; 0 returns the mean.
        noise
            Standard normal noise of shape ``(..., S, n_latent)``; drawn here when ``None``.

        Returns
        -------
        The latent sample and its mean and variance, each ``(..., S, n_latent)``.
        """
        mean = self.mean_net(hidden)
        variance = torch.exp(self.log_variance_net(hidden).clamp(max=20.0)) + self.min_variance
        if noise is None:
            noise = torch.randn_like(mean)
        z = mean + temperature * variance.sqrt() * noise.to(mean.dtype)
        return VariationalSample(z=z, mean=mean, variance=variance)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode the ``S`` latents ``(..., S, n_latent)`` of a time point to ``(..., D)``."""
        return self.decoder(z.flatten(-2))

    @staticmethod
    def kl_divergence(sample: VariationalSample) -> torch.Tensor:
        """KL of ``N(mean, variance)`` from ``N(0, I)``, summed over the last two axes."""
        kl = 0.5 * (sample.variance + sample.mean.pow(2) - 1.0 - sample.variance.log())
        return kl.sum(dim=(-2, -1))
