"""Checks of an expression matrix: emptiness, finiteness and scale (log-normalised or counts)."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._anndata import get_expression
from ._dense import rows_per_block

# larger than any log-normalised value (log1p of a whole cell's 1e6 normalised counts is 13.8)
# and than the raw counts the check below still only warns about
MAX_LOG_EXPRESSION = 1e4


def _stored_values(matrix: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if sparse.issparse(matrix):
        return np.asarray(matrix.data).ravel()
    return np.asarray(matrix).ravel()


def check_expression(adata: AnnData, layer: str | None) -> None:
    """Reject empty data and non-finite values; warn on raw counts.

    Parameters
    ----------
    adata
        The data.
    layer
        Layer holding log-normalised expression; ``None`` for ``adata.X``.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(
            f"The AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes). "
            "Pass an AnnData with cells and genes."
        )
    where = f"adata.layers[{layer!r}]" if layer is not None else "adata.X"
    stats = value_summary(get_expression(adata, layer), where)
    if stats.n_non_finite:
        raise ValueError(
            f"{where} holds {stats.n_non_finite} NaN or infinite values. Remove or impute "
            "them (e.g. with np.nan_to_num) before setting up the model."
        )
    if stats.minimum < 0:
        warnings.warn(
            f"{where} has negative values; expected log-normalised expression "
            "(sc.pp.normalize_total then sc.pp.log1p). Scaled data is not supported.",
            UserWarning,
            stacklevel=3,
        )
    if stats.largest > MAX_LOG_EXPRESSION:
        raise ValueError(
            f"{where} has values up to {stats.largest:.3g}, far outside log-normalised "
            f"expression (which stays below about 20). Pass log-normalised expression "
            "(sc.pp.normalize_total then sc.pp.log1p), or the layer that holds it."
        )
    if stats.first_integral and stats.first_max > 20:
        warnings.warn(
            f"{where} looks like raw counts (integers up to {stats.first_max:.0f}). The model "
            "expects log-normalised expression: run sc.pp.normalize_total(adata) and "
            "sc.pp.log1p(adata) (keeping counts in a layer), or pass the log-normalised layer.",
            UserWarning,
            stacklevel=3,
        )


class ValueSummary(NamedTuple):
    """What :func:`value_summary` finds in a matrix."""

    n_non_finite: int
    minimum: float
    largest: float  # largest absolute value
    first_integral: bool  # the first million stored values are whole numbers
    first_max: float


def value_summary(matrix: Any, where: str) -> ValueSummary:
    """Summarise the stored values of a dense, sparse or on-disk matrix, in row blocks.

    Memory stays bounded by one block, so a backed AnnData is checked without loading it.

    Parameters
    ----------
    matrix
        Cells x genes, dense, sparse or on disk.
    where
        Where the matrix lives (``"adata.X"`` ...), for the error on a non-numeric dtype.
    """
    n_non_finite, minimum, largest = 0, np.inf, 0.0
    first: list[np.ndarray] = []
    n_first = 0
    chunk_size = rows_per_block(matrix.shape[1], most=8192) // 4 or 1  # a few temporaries each
    for start in range(0, matrix.shape[0], chunk_size):
        values = _stored_values(matrix[start : start + chunk_size])
        if not np.issubdtype(values.dtype, np.number):
            raise TypeError(f"{where} has non-numeric dtype {values.dtype}; expected floats.")
        finite = np.isfinite(values)
        n_non_finite += values.size - int(np.count_nonzero(finite))
        if values.size:
            minimum = min(minimum, float(np.min(values, where=finite, initial=np.inf)))
            largest = max(largest, float(np.max(np.abs(values), where=finite, initial=0.0)))
        if n_first < 1_000_000:
            kept = values[: 1_000_000 - n_first]
            first.append(kept[np.isfinite(kept)])
            n_first += kept.size
    sample = np.concatenate(first) if first else np.zeros(0)
    integral = bool(sample.size) and bool(np.all(np.mod(sample, 1) == 0))
    return ValueSummary(
        n_non_finite,
        minimum if np.isfinite(minimum) else 0.0,
        largest,
        integral,
        float(sample.max()) if sample.size else 0.0,
    )
