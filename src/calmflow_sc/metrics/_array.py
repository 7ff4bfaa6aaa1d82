"""Conversion of dense or sparse cell-by-feature matrices to float64 arrays."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    Matrix = ArrayLike | sparse.spmatrix | sparse.sparray


def as_float64_2d(x: Matrix, name: str = "x", *, allow_1d: bool = False) -> np.ndarray:
    """Return ``x`` as a dense two-dimensional float64 array.

    Parameters
    ----------
    x
        Dense array-like or scipy sparse matrix of shape ``(n_cells, n_features)``.
    name
        Name of the argument, used in error messages.
    allow_1d
        Treat a one-dimensional input as a single row (e.g. a precomputed mean profile)
        instead of raising.

    Returns
    -------
    Dense float64 array of shape ``(n_cells, n_features)``; a new array unless ``x`` already
    is one.

    Raises
    ------
    ValueError
        If ``x`` is not two-dimensional (or one-dimensional with ``allow_1d``) or has no rows.
    """
    arr = x.toarray() if sparse.issparse(x) else np.asarray(x)
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 1 and allow_1d:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D (cells x features) array, got shape {arr.shape}.")
    if arr.shape[0] == 0:
        raise ValueError(f"`{name}` has no rows.")
    return arr


def column_means(x: Matrix, name: str = "x") -> np.ndarray:
    """Mean of every column of a dense or sparse matrix, in float64, without densifying.

    Parameters
    ----------
    x
        Dense array-like or scipy sparse matrix of shape ``(n_cells, n_features)``; a
        one-dimensional input is treated as a single row (a precomputed mean profile).
    name
        Name of the argument, used in error messages.

    Returns
    -------
    Float64 array of shape ``(n_features,)``.
    """
    if sparse.issparse(x):
        if x.shape[0] == 0:
            raise ValueError(f"`{name}` has no rows.")
        return np.asarray(x.astype(np.float64).mean(axis=0)).ravel()
    return as_float64_2d(x, name, allow_1d=True).mean(axis=0)
