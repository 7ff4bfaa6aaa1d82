"""Dense views of dense, sparse or on-disk cell-by-gene matrices, and the size of row blocks."""

from __future__ import annotations

import numpy as np
from scipy import sparse

#: Values (cells x genes) in one block of rows read, transformed or written at a time: 16 MB
#: of float32, whatever the number of genes.
BLOCK_VALUES = 1 << 22


def rows_per_block(n_genes: int, most: int = 4096) -> int:
    """Rows in a block of about :data:`BLOCK_VALUES` values (at most ``most``)."""
    return max(1, min(most, BLOCK_VALUES // max(1, int(n_genes))))


def to_dense(x: np.ndarray | sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Return a dense array of a dense or sparse matrix, in its own dtype (no copy if dense).

    Parameters
    ----------
    x
        Matrix of shape ``(n_cells, n_genes)``.
    """
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


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
