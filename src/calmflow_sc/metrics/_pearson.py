"""Pearson correlation of two vectors that tolerates constant input."""

from __future__ import annotations

import numpy as np


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient of two vectors, NaN when it is undefined.

    The one Pearson correlation of the package: the metrics, the plots and the benchmark
    scripts all use it. A constant vector (a prediction of no change, as the control baseline
    makes) has no correlation: the result is NaN, not 0, so that averages over conditions do
    not silently count it as uncorrelated.

    Parameters
    ----------
    a
        First vector.
    b
        Second vector, of the same length as ``a``.

    Returns
    -------
    The correlation coefficient, or ``nan`` (without a warning) when it is undefined, for fewer
    than two elements or a constant vector.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Vectors must have the same length, got {a.size} and {b.size}.")
    if a.size < 2:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a @ a) * (b @ b))
    if denom == 0 or not np.isfinite(denom):
        return float("nan")
    return float(np.clip((a @ b) / denom, -1.0, 1.0))
