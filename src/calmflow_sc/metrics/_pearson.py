"""Pearson correlation of two vectors that tolerates constant input."""

from __future__ import annotations

import numpy as np


def pearson_r(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation coefficient of two vectors.

    Parameters
    ----------
    a
        First vector.
    b
        Second vector, of the same length as ``a``.

    Returns
    -------
    The correlation coefficient, or ``nan`` (without a warning) when it is undefined: fewer than
    two elements or a constant vector.
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
