"""Reading expression matrices and per-group means from AnnData objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    pass


def to_dense_float64(x: np.ndarray | sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Return a dense float64 copy of a dense or sparse matrix.

    Parameters
    ----------
    x
        Matrix of shape ``(n_cells, n_genes)``.

    Returns
    -------
    A new float64 array, safe to modify.
    """
    if sparse.issparse(x):
        return x.toarray().astype(np.float64, copy=False)
    return np.array(x, dtype=np.float64)


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
    sums = sums.toarray() if sparse.issparse(sums) else np.asarray(sums)
    counts = np.bincount(codes, minlength=n_groups).astype(np.float64)
    return sums.astype(np.float64, copy=False) / counts[:, np.newaxis]
