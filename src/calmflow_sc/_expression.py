"""Checks of an expression matrix: emptiness, finiteness and scale (log-normalised or not)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._anndata import get_expression
from ._dense import rows_per_block

# larger than any log-normalised value (log1p of a whole cell's 1e6 normalised counts is 13.8)
MAX_LOG_EXPRESSION = 20.0
# below this, a value is a rounding error of a non-negative one, not a scaled value
NEGATIVE_TOLERANCE = -1e-6
#: How to get log-normalised expression, named in every scale error.
LOG_NORMALISE_FIX = (
    "keep the counts in a layer and log-normalise: adata.layers['counts'] = adata.X.copy(); "
    "sc.pp.normalize_total(adata); sc.pp.log1p(adata)"
)


def _stored_values(matrix: np.ndarray | sparse.spmatrix) -> np.ndarray:
    if sparse.issparse(matrix):
        return np.asarray(matrix.data).ravel()
    return np.asarray(matrix).ravel()


def check_expression(adata: AnnData, layer: str | None, name: str = "adata") -> None:
    """Reject empty data, non-finite values and expression that is not log-normalised.

    Parameters
    ----------
    adata
        The data.
    layer
        Layer holding log-normalised expression; ``None`` for ``adata.X``.
    name
        How the object is called in error messages.

    Raises
    ------
    ValueError
        For empty data, NaN or infinite values, raw counts, normalised values that were not
        log-transformed and scaled (centred) values, each with the fix.
    """
    if adata.n_obs == 0 or adata.n_vars == 0:
        raise ValueError(
            f"The AnnData is empty ({adata.n_obs} cells x {adata.n_vars} genes). "
            "Pass an AnnData with cells and genes."
        )
    where = f"{name}.layers[{layer!r}]" if layer is not None else f"{name}.X"
    stats = value_summary(get_expression(adata, layer, name), where)
    if stats.n_non_finite:
        raise ValueError(
            f"{where} holds {stats.n_non_finite} NaN or infinite values. Remove or impute "
            "them (e.g. with np.nan_to_num) first."
        )
    check_scale(stats, where)


def expression_scale(stats: ValueSummary) -> str:
    """What a matrix holds, from its value summary.

    Parameters
    ----------
    stats
        :func:`value_summary` of the matrix.

    Returns
    -------
    ``"log-normalised"``, ``"counts"`` (whole numbers beyond the log scale),
    ``"normalised"`` (fractions beyond the log scale: normalised but not log-transformed) or
    ``"scaled"`` (negative values, e.g. after ``sc.pp.scale``).
    """
    if stats.minimum < NEGATIVE_TOLERANCE:
        return "scaled"
    if stats.largest > MAX_LOG_EXPRESSION:
        return "counts" if stats.first_integral else "normalised"
    return "log-normalised"


def check_scale(stats: ValueSummary, where: str) -> None:
    """Refuse expression on another scale than log-normalised, naming the fix.

    Parameters
    ----------
    stats
        :func:`value_summary` of the matrix.
    where
        Where the matrix lives, e.g. ``"adata.X"``.
    """
    scale = expression_scale(stats)
    if scale == "log-normalised":
        return
    found = {
        "counts": f"raw counts (whole numbers up to {stats.largest:.0f})",
        "normalised": (
            f"normalised but not log-transformed values (up to {stats.largest:.4g}; "
            "log-normalised expression stays below about 20)"
        ),
        "scaled": (
            f"scaled values (negative down to {stats.minimum:.3g}; log-normalised expression "
            "is never negative)"
        ),
    }[scale]
    fix = {
        "counts": LOG_NORMALISE_FIX,
        "normalised": "run sc.pp.log1p(adata) on it, or pass the layer that holds log1p values",
        "scaled": (
            "pass the log-normalised values from before sc.pp.scale (adata.raw, or a layer "
            "saved before scaling)"
        ),
    }[scale]
    raise ValueError(
        f"{where} holds {found}; the model reads log-normalised expression. Fix: {fix}, or "
        "name the layer that holds log-normalised values with layer=."
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
