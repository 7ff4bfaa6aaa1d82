"""Detection rates of predicted and observed cells."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.metrics import detection_rate_error, detection_rates


def test_rates_are_the_fraction_of_non_zero_cells_dense_or_sparse():
    x = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0], [1.0, 3.0, 0.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(detection_rates(x), [0.5, 0.75, 0.0])
    np.testing.assert_allclose(detection_rates(sparse.csr_matrix(x)), [0.5, 0.75, 0.0])


def test_a_dense_displacement_is_penalised_by_the_real_cells_zeros():
    rng = np.random.default_rng(0)
    real = rng.poisson(0.3, size=(200, 30)).astype(float)
    assert detection_rate_error(real.copy(), real) == 0.0
    dense = real + 0.01  # every entry non-zero
    zeros = 1 - detection_rates(real)
    assert detection_rate_error(dense, real) == pytest.approx(zeros.mean())


def test_different_genes_are_refused():
    with pytest.raises(ValueError, match="same genes"):
        detection_rate_error(np.ones((3, 4)), np.ones((3, 5)))
