"""Metrics comparing predicted and observed single-cell perturbation responses.

Functions take cell-by-feature matrices (dense NumPy arrays or SciPy sparse matrices, converted to
float64) and return floats; :func:`evaluate` takes AnnData objects and returns a tidy table.
"""

from __future__ import annotations

from ._cell_eval import to_cell_eval
from ._de import de_genes, de_overlap, detected_genes
from ._detection import detection_rate_error, detection_rates
from ._energy import energy_distance
from ._evaluate import evaluate
from ._mean_expression import mean_expression_scores
from ._mmd import DEFAULT_GAMMAS, mmd_rbf
from ._pearson import pearson_r
from ._top_genes import top_changed_genes
from ._transport import sinkhorn_divergence, wasserstein

__all__ = [
    "DEFAULT_GAMMAS",
    "de_genes",
    "de_overlap",
    "detected_genes",
    "detection_rate_error",
    "detection_rates",
    "energy_distance",
    "evaluate",
    "mean_expression_scores",
    "mmd_rbf",
    "pearson_r",
    "sinkhorn_divergence",
    "to_cell_eval",
    "top_changed_genes",
    "wasserstein",
]
