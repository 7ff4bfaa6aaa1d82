"""Detection rates: the fraction of cells in which each gene is non-zero."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

if TYPE_CHECKING:
    from ._array import Matrix


def detection_rates(x: Matrix) -> np.ndarray:
    """Fraction of the cells (rows) in which each gene (column) is non-zero.

    Parameters
    ----------
    x
        Cells by genes, dense or sparse.
    """
    if x.shape[0] == 0:
        raise ValueError("detection_rates needs at least one cell.")
    nonzero = x != 0
    counts = nonzero.sum(axis=0)
    counts = np.asarray(counts).ravel() if sparse.issparse(x) else np.asarray(counts)
    return counts.astype(np.float64) / x.shape[0]


def detection_rate_error(pred: Matrix, real: Matrix) -> float:
    """Mean over genes of the absolute difference of predicted and observed detection rates.

    A prediction that adds a small value to every gene of every cell (zeros included) scores
    the mean fraction of zeros of the real cells; one with the real cells' zeros scores 0.

    Parameters
    ----------
    pred, real
        Predicted and observed cells (cells by the same genes).
    """
    if pred.shape[1] != real.shape[1]:
        raise ValueError(
            f"pred has {pred.shape[1]} genes and real {real.shape[1]}; give the same genes."
        )
    return float(np.mean(np.abs(detection_rates(pred) - detection_rates(real))))
