from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from calmflow_sc.nn import VariationalHead


def test_kl_matches_torch_distributions():
    torch.manual_seed(0)
    head = VariationalHead(hidden_size=8, n_spatial_tokens=2, n_latent=3, n_dims=5)
    sample = head.encode(torch.randn(4, 2, 8))
    expected = kl_divergence(Normal(sample.mean, sample.variance.sqrt()), Normal(0.0, 1.0)).sum(
        dim=(-2, -1)
    )
    torch.testing.assert_close(head.kl_divergence(sample), expected)
    assert (sample.variance >= head.min_variance).all()


def test_temperature_scales_noise():
    torch.manual_seed(0)
    head = VariationalHead(hidden_size=8, n_spatial_tokens=2, n_latent=3, n_dims=5)
    hidden, noise = torch.randn(4, 2, 8), torch.randn(4, 2, 3)
    cold = head.encode(hidden, temperature=0.0, noise=noise)
    torch.testing.assert_close(cold.z, cold.mean)
    warm = head.encode(hidden, temperature=2.0, noise=noise)
    torch.testing.assert_close(warm.z - warm.mean, 2.0 * warm.variance.sqrt() * noise)
    assert head.decode(warm.z).shape == (4, 5)
