"""Shared PCA embedding of several cell-by-gene matrices."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from sklearn.decomposition import PCA

from ._array import as_float64_2d

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._array import Matrix


def pca_embed(
    fit: Sequence[Matrix],
    transform: Sequence[Matrix],
    n_comps: int = 50,
) -> list[np.ndarray]:
    """Fit a PCA on the stacked ``fit`` matrices and project every ``transform`` matrix on it.

    Parameters
    ----------
    fit
        Matrices (dense or sparse, same number of genes) whose stacked cells define the PCA.
    transform
        Matrices to project onto the fitted principal components.
    n_comps
        Number of components; capped at ``min(n_fit_cells, n_genes)``.

    Returns
    -------
    One float64 array of shape ``(n_cells, n_comps)`` per ``transform`` matrix.
    """
    stacked = np.vstack([as_float64_2d(m, "fit") for m in fit])
    n = min(int(n_comps), *stacked.shape)
    if n < 1:
        raise ValueError(f"`n_comps` must be positive, got {n_comps}.")
    pca = PCA(n_components=n, random_state=0).fit(stacked)
    return [pca.transform(as_float64_2d(m, "transform")) for m in transform]
