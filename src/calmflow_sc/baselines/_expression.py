"""Reading expression matrices and per-group means from AnnData objects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from anndata import AnnData


def get_expression(
    adata: AnnData, layer: str | None, name: str = "adata"
) -> np.ndarray | sparse.spmatrix | sparse.sparray:
    """Return ``adata.layers[layer]`` (or ``adata.X`` when ``layer`` is ``None``) without copying.

    Parameters
    ----------
    adata
        Annotated data matrix.
    layer
        Layer key, or ``None`` for ``X``.
    name
        Name of the object, used in error messages.

    Returns
    -------
    The stored dense array or sparse matrix (not to be modified by the caller).

    Raises
    ------
    ValueError
        If the layer is missing or ``X`` is empty.
    """
    if layer is None:
        if adata.X is None:
            raise ValueError(f"`{name}.X` is empty; pass `layer`.")
        return adata.X
    if layer not in adata.layers:
        raise ValueError(f"Layer {layer!r} not found in `{name}.layers`.")
    return adata.layers[layer]


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
