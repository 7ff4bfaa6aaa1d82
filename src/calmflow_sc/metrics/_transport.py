"""Optimal-transport distances between two samples of cells (POT)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import ot

from ._array import as_float64_2d

if TYPE_CHECKING:
    from ._array import Matrix

#: Default entropic regularisation, as a fraction of the observed cells' mean squared distance.
SINKHORN_RELATIVE_EPSILON = 0.1
#: The Sinkhorn iterations stop when the marginals are met within this (POT's ``stopThr``).
SINKHORN_TOLERANCE = 1e-6
#: At most this many Sinkhorn iterations.
SINKHORN_MAX_ITERATIONS = 2000


def _samples(x: Matrix, y: Matrix) -> tuple[np.ndarray, np.ndarray]:
    a = as_float64_2d(x, "x")
    b = as_float64_2d(y, "y")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"`x` and `y` must have the same number of features, got {a.shape[1]} and {b.shape[1]}."
        )
    return a, b


def wasserstein(x: Matrix, y: Matrix, p: int = 2) -> float:
    r"""Exact ``p``-Wasserstein distance between two empirical distributions.

    .. math::

        W_p(X, Y) = \Big(\min_{\pi \in \Pi(X, Y)} \sum_{ij} \pi_{ij}
        \lVert x_i - y_j \rVert^p\Big)^{1/p}

    over couplings :math:`\pi` of the uniform weights of both samples, solved exactly with
    POT's network simplex (``ot.emd2``). Cost grows as :math:`O(n^3)`: meant for samples of a
    few thousand cells in a low-dimensional embedding.

    Parameters
    ----------
    x, y
        Samples of shape ``(n, d)`` and ``(m, d)``.
    p
        Order of the distance (2 gives :math:`W_2`).

    Returns
    -------
    The distance, in the units of the features; ``0.0`` for identical samples.
    """
    a, b = _samples(x, y)
    if p < 1:
        raise ValueError(f"`p` must be at least 1, got {p}.")
    cost = ot.dist(a, b, metric="euclidean") ** p
    value = ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000)
    return float(max(value, 0.0) ** (1.0 / p))


def sinkhorn_divergence(x: Matrix, y: Matrix, epsilon: float | None = None) -> float:
    r"""Debiased Sinkhorn divergence with squared Euclidean cost.

    .. math::

        S_\varepsilon(X, Y) = \mathrm{OT}_\varepsilon(X, Y)
        - \tfrac12 \mathrm{OT}_\varepsilon(X, X) - \tfrac12 \mathrm{OT}_\varepsilon(Y, Y)

    where :math:`\mathrm{OT}_\varepsilon` is the entropic transport cost
    :math:`\langle \pi_\varepsilon, C\rangle` of the Sinkhorn coupling (POT's
    ``ot.bregman.empirical_sinkhorn_divergence``, log-domain iterations stopped when the
    marginals are met within ``SINKHORN_TOLERANCE``). It tends to :math:`W_2^2` as
    :math:`\varepsilon \to 0` and to an MMD as :math:`\varepsilon \to \infty`; it is ``0``
    for identical samples.

    Parameters
    ----------
    x, y
        Samples of shape ``(n, d)`` and ``(m, d)``: the prediction and the observation.
    epsilon
        Entropic regularisation, in the units of the squared distances. ``None`` (the
        default) takes ``SINKHORN_RELATIVE_EPSILON`` (10%) of the mean squared distance between
        the cells of ``y`` (OTT-JAX scales its default the same way, at 5%): the same for every
        prediction of the same observation, and converging within the iterations allowed.

    Returns
    -------
    The divergence (squared units of the features), clipped at 0.
    """
    a, b = _samples(x, y)
    if epsilon is None:
        epsilon = SINKHORN_RELATIVE_EPSILON * mean_squared_distance(b)
    if epsilon <= 0:
        raise ValueError(f"`epsilon` must be positive, got {epsilon}.")
    # log-domain iterations: with squared distances above ~700 epsilon, exp(-C / epsilon)
    # underflows to 0 and the plain iterations divide by zero
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = ot.bregman.empirical_sinkhorn_divergence(
            a,
            b,
            reg=epsilon,
            metric="sqeuclidean",
            numIterMax=SINKHORN_MAX_ITERATIONS,
            stopThr=SINKHORN_TOLERANCE,
            method="sinkhorn_log",
        )
    for warning in caught:  # POT's, once per transport problem: one of ours instead
        if "did not converge" not in str(warning.message):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    if any("did not converge" in str(warning.message) for warning in caught):
        warnings.warn(
            f"The Sinkhorn divergence did not converge in {SINKHORN_MAX_ITERATIONS:,} "
            f"iterations at epsilon={epsilon:.3g}; its value is approximate. A larger epsilon "
            "(sinkhorn_epsilon; None scales it to the data) converges faster.",
            UserWarning,
            stacklevel=2,
        )
    return float(max(float(value), 0.0))


def mean_squared_distance(x: np.ndarray) -> float:
    """The mean squared Euclidean distance between two cells of ``x`` (cells by features).

    Computed from the variances: twice the total variance, times ``n / (n - 1)`` for the
    pairs of distinct cells (``0`` for a single cell).
    """
    n = len(x)
    if n < 2:
        return 0.0
    return float(2.0 * np.var(x, axis=0).sum() * n / (n - 1))
