"""Agreement of predicted and observed mean expression profiles."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np

from ._array import column_means
from ._pearson import pearson_r
from ._top_genes import top_changed_genes

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ._array import Matrix


def _gene_subset(
    n_genes: int,
    real: Matrix,
    control: Matrix | None,
    top_k: int | None,
    de_genes: ArrayLike | None,
) -> np.ndarray | slice:
    """Gene indices selected by ``top_k`` or ``de_genes``, or all genes."""
    if top_k is not None and de_genes is not None:
        raise ValueError("Pass at most one of `top_k` and `de_genes`.")
    if top_k is not None:
        if control is None:
            raise ValueError("`top_k` selects genes by their change from control: pass `control`.")
        return top_changed_genes(real, control, operator.index(top_k))
    if de_genes is None:
        return slice(None)
    genes = np.asarray(de_genes)
    if genes.dtype == bool:
        if genes.shape != (n_genes,):
            raise ValueError(f"A boolean `de_genes` mask must have length {n_genes}.")
        genes = np.flatnonzero(genes)
    elif genes.size and not np.issubdtype(genes.dtype, np.integer):
        raise ValueError("`de_genes` must be integer gene indices or a boolean mask.")
    genes = genes.astype(np.int64).ravel()
    if genes.size == 0:
        raise ValueError("`de_genes` selects no genes.")
    if genes.min() < -n_genes or genes.max() >= n_genes:
        raise ValueError(f"`de_genes` contains indices outside [0, {n_genes}).")
    return genes


def mean_expression_scores(
    pred: Matrix,
    real: Matrix,
    control: Matrix | None = None,
    top_k: int | None = None,
    de_genes: ArrayLike | None = None,
) -> dict[str, float]:
    r"""Compare the mean expression profiles of predicted and observed perturbed cells.

    Each matrix is reduced to its per-gene mean over cells; the scores compare these mean vectors
    over the selected genes.

    - ``pearson``: Pearson correlation of the predicted and observed mean expression.
    - ``r2``: the **squared Pearson correlation** of the mean expression, ``pearson ** 2``, the
      convention of CellOT, CellFlow and scGen-style evaluations. It is not the coefficient of
      determination :math:`1 - SS_{res}/SS_{tot}` (``sklearn.metrics.r2_score``), which also
      penalises offsets and scale errors and can be negative; a prediction that is an affine
      transformation of the truth has ``r2 == 1`` here.
    - ``pearson_delta`` (only when ``control`` is given): Pearson correlation of the predicted and
      observed change of mean expression from the control mean,
      :math:`\mathrm{corr}(\bar{p} - \bar{c}, \bar{r} - \bar{c})`, as in cell-eval and GEARS. It
      does not reward predicting the control profile, which ``pearson`` and ``r2`` do when the
      effect is small.

    Undefined correlations (e.g. constant vectors, a single gene) are ``nan``.

    Parameters
    ----------
    pred
        Predicted cells, dense or sparse, of shape ``(n_cells, n_genes)``. A 1-D array is taken as
        a precomputed mean profile (this holds for ``real`` and ``control`` too).
    real
        Observed perturbed cells, of shape ``(n_real_cells, n_genes)``.
    control
        Observed control cells, of shape ``(n_control_cells, n_genes)``. Needed for
        ``pearson_delta`` and ``top_k``.
    top_k
        Restrict all scores to the ``top_k`` genes with the largest absolute observed change of
        mean expression, ``|mean(real) - mean(control)|`` (see :func:`top_changed_genes`).
    de_genes
        Restrict all scores to these genes, given as integer column indices or a boolean mask.
        Mutually exclusive with ``top_k``.

    Returns
    -------
    A dict with keys ``"r2"`` and ``"pearson"``, and ``"pearson_delta"`` when ``control`` is given.

    Raises
    ------
    ValueError
        If the gene numbers differ, both ``top_k`` and ``de_genes`` are given, ``top_k`` is given
        without ``control``, or the gene selection is invalid.
    """
    pred_mean = column_means(pred, "pred")
    real_mean = column_means(real, "real")
    control_mean = None if control is None else column_means(control, "control")
    n_genes = real_mean.size
    for name, mean in (("pred", pred_mean), ("control", control_mean)):
        if mean is not None and mean.size != n_genes:
            raise ValueError(
                f"`{name}` has {mean.size} genes but `real` has {n_genes}; they must match."
            )
    genes = _gene_subset(n_genes, real_mean, control_mean, top_k, de_genes)
    pearson = pearson_r(pred_mean[genes], real_mean[genes])
    scores = {"r2": pearson**2, "pearson": pearson}
    if control_mean is not None:
        scores["pearson_delta"] = pearson_r(
            pred_mean[genes] - control_mean[genes], real_mean[genes] - control_mean[genes]
        )
    return scores
