"""Per-group means of expression matrices."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from .._dense import to_dense


def group_means(
    x: np.ndarray | sparse.spmatrix | sparse.sparray, codes: np.ndarray, n_groups: int
) -> np.ndarray:
    """Per-group mean of the rows of a dense or sparse matrix, in float64.

    Parameters
    ----------
    x
        Matrix of shape ``(n_cells, n_genes)``.
    codes
        Group code in ``[0, n_groups)`` of every row.
    n_groups
        Number of groups; every group must have at least one row.

    Returns
    -------
    Array of shape ``(n_groups, n_genes)``.
    """
    n_cells = x.shape[0]
    indicator = sparse.csr_matrix(
        (np.ones(n_cells), (codes, np.arange(n_cells))), shape=(n_groups, n_cells)
    )
    sums = indicator @ x
    sums = to_dense(sums)
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    return sums.astype(np.float64, copy=False) / counts[:, np.newaxis]
