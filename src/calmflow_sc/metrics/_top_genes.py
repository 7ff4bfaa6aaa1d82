"""Selection of the genes whose mean expression changes most under a perturbation."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np

from ._array import column_means

if TYPE_CHECKING:
    from ._array import Matrix


def top_changed_genes(real: Matrix, control: Matrix, k: int) -> np.ndarray:
    """Indices of the ``k`` genes with the largest absolute change of mean expression.

    The change of gene ``g`` is ``|mean(real[:, g]) - mean(control[:, g])|``. This is a simple,
    test-free proxy for the top differentially expressed genes.

    Parameters
    ----------
    real
        Observed perturbed cells, dense or sparse, of shape ``(n_cells, n_genes)``; a 1-D array is
        taken as a precomputed mean profile.
    control
        Control cells, of shape ``(n_control_cells, n_genes)``.
    k
        Number of genes to return, ``1 <= k <= n_genes``.

    Returns
    -------
    Integer array of ``k`` gene (column) indices, ordered by decreasing absolute change; ties are
    broken by the lower index.

    Raises
    ------
    ValueError
        If the gene numbers differ or ``k`` is out of range.
    """
    real_mean = column_means(real, "real")
    control_mean = column_means(control, "control")
    if real_mean.shape != control_mean.shape:
        raise ValueError(
            f"`real` and `control` must have the same number of genes, got {real_mean.size} and "
            f"{control_mean.size}."
        )
    n_genes = real_mean.size
    k = operator.index(k)
    if not 1 <= k <= n_genes:
        raise ValueError(f"`k` must be between 1 and the number of genes ({n_genes}), got {k}.")
    change = np.abs(real_mean - control_mean)
    return np.argsort(-change, kind="stable")[:k].astype(np.int64)
