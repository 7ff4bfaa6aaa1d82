from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from calmflow_sc.data import PCARepresentation


def test_pca_round_trip_and_unit_scale():
    rng = np.random.default_rng(0)
    low_rank = np.abs(rng.normal(size=(200, 3))) @ np.abs(rng.normal(size=(3, 30)))
    for matrix in (low_rank, sparse.csr_matrix(low_rank)):
        representation = PCARepresentation(30, 3).fit(matrix)
        states = representation.transform_matrix(matrix)
        assert states.shape == (200, 3)
        # unit average variance in model space
        assert abs(states.var(0, unbiased=True).mean().item() - 1.0) < 1e-3
        back = representation.inverse_transform(states).numpy()
        np.testing.assert_allclose(back, low_rank, atol=1e-3)


def test_inverse_clips_at_zero_and_fit_is_deterministic():
    rng = np.random.default_rng(1)
    x = np.abs(rng.normal(size=(50, 10)))
    a = PCARepresentation(10, 4).fit(x)
    b = PCARepresentation(10, 4).fit(x)
    torch.testing.assert_close(a.components, b.components)
    assert (a.inverse_transform(torch.full((2, 4), -50.0)) >= 0).all()
    assert a.is_fitted and not PCARepresentation(10, 4).is_fitted


def test_sparse_input_can_have_as_many_components_as_genes():
    rng = np.random.default_rng(0)
    expression = rng.poisson(2.0, (50, 6)).astype(np.float32)
    dense = PCARepresentation(6, 6).fit(expression)
    from_sparse = PCARepresentation(6, 6).fit(sparse.csr_matrix(expression))
    torch.testing.assert_close(dense.components, from_sparse.components)
