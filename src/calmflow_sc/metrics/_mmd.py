"""Maximum mean discrepancy with Gaussian (RBF) kernels."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.spatial.distance import cdist

from ._array import as_float64_2d

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._array import Matrix

# number of pairwise distances held in memory at once (~32 MiB of float64)
_BLOCK_ELEMENTS = 2**22

DEFAULT_GAMMAS: tuple[float, ...] = (2.0, 1.0, 0.5, 0.1, 0.01, 0.005)


def _mean_rbf_kernels(a: np.ndarray, b: np.ndarray, gammas: np.ndarray) -> np.ndarray:
    """Mean of ``exp(-gamma ||a_i - b_j||^2)`` over all pairs ``(i, j)``, for every gamma."""
    rows = max(1, _BLOCK_ELEMENTS // max(len(b), 1))
    totals = np.zeros(len(gammas))
    for start in range(0, len(a), rows):
        sq_dist = cdist(a[start : start + rows], b, metric="sqeuclidean")
        kernel = np.empty_like(sq_dist)
        for g, gamma in enumerate(gammas):
            np.multiply(sq_dist, -gamma, out=kernel)
            totals[g] += np.exp(kernel, out=kernel).sum()
    return totals / (len(a) * len(b))


def mmd_rbf(
    x: Matrix,
    y: Matrix,
    gammas: Sequence[float] = DEFAULT_GAMMAS,
) -> float:
    r"""Squared maximum mean discrepancy with RBF kernels, averaged over bandwidths.

    For each ``gamma`` the (biased, V-statistic) estimate

    .. math::

        \mathrm{MMD}^2_\gamma(X, Y) = \overline{k_\gamma(X, X')} + \overline{k_\gamma(Y, Y')}
        - 2\,\overline{k_\gamma(X, Y)}, \qquad k_\gamma(a, b) = \exp(-\gamma \lVert a - b \rVert^2)

    is computed, every mean running over all pairs of cells (within-sample means include the
    diagonal :math:`k(a, a) = 1`), and the result is the plain average over ``gammas``. With the
    default ``gammas`` this matches CellFlow's ``compute_scalar_mmd`` (itself from CellOT), which
    uses ``sklearn.metrics.pairwise.rbf_kernel`` and ``.mean()`` of the kernel matrices. The value
    is ``0.0`` for identical samples and non-negative. The kernel bandwidths are absolute, so the
    scale of the input matters: the defaults are meant for low-dimensional embeddings such as PCA
    coordinates.

    Kernel matrices are computed in blocks, so memory stays bounded for large samples.

    Parameters
    ----------
    x
        First sample, dense array or scipy sparse matrix of shape ``(n_cells_x, n_features)``.
    y
        Second sample, of shape ``(n_cells_y, n_features)``.
    gammas
        Positive RBF kernel parameters :math:`\gamma` (inverse squared length scales).

    Returns
    -------
    The MMD\ :sup:`2` averaged over ``gammas``, a float.

    Raises
    ------
    ValueError
        If the samples have different numbers of features or are empty, or if ``gammas`` is empty
        or not all positive.

    Examples
    --------
    >>> import numpy as np
    >>> round(mmd_rbf(np.array([[0.0]]), np.array([[1.0]]), gammas=(1.0,)), 6)
    1.264241
    """
    x = as_float64_2d(x, "x")
    y = as_float64_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"`x` and `y` must have the same number of features, got {x.shape[1]} and {y.shape[1]}."
        )
    gamma_arr = np.asarray(gammas, dtype=np.float64).ravel()
    if gamma_arr.size == 0 or not np.all(gamma_arr > 0):
        raise ValueError(
            f"`gammas` must be a non-empty sequence of positive numbers, got {gammas}."
        )
    mmd2 = (
        _mean_rbf_kernels(x, x, gamma_arr)
        + _mean_rbf_kernels(y, y, gamma_arr)
        - 2.0 * _mean_rbf_kernels(x, y, gamma_arr)
    )
    return float(mmd2.mean())
