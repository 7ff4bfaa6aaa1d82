"""Evaluation of a predicted perturbation response against the observed one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._anndata import get_expression
from ._array import as_float64_2d, column_means
from ._energy import energy_distance
from ._mean_expression import mean_expression_scores
from ._mmd import mmd_rbf
from ._pca import pca_embed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData


def evaluate(
    pred: AnnData,
    real: AnnData,
    control: AnnData,
    *,
    layer: str | None = None,
    obsm: str | None = None,
    top_k: Sequence[int] = (20, 50, 100),
    n_comps: int = 50,
) -> pd.DataFrame:
    """Score predicted perturbed cells against observed perturbed and control cells.

    Distribution metrics compare the predicted and observed cells in a low-dimensional embedding:
    ``adata.obsm[obsm]`` of each object when ``obsm`` is given, otherwise a PCA with ``n_comps``
    components fitted on the observed perturbed and control cells together (the prediction does
    not influence the embedding) onto which all three are projected. Gene-space metrics compare
    mean expression profiles (see :func:`mean_expression_scores`) in ``X`` or ``layer``.

    The returned rows are, in order:

    - ``energy_distance``: :func:`energy_distance` (Euclidean, pred vs real, embedding);
    - ``energy_distance_squared``: :func:`energy_distance` with ``squared=True``;
    - ``mmd``: :func:`mmd_rbf` with the default bandwidths (pred vs real, embedding);
    - ``r2_all``, ``pearson_delta_all``: squared Pearson correlation of the mean expression and
      Pearson correlation of the mean change from control, over all genes;
    - ``r2_top{k}``, ``pearson_delta_top{k}`` for each ``k`` in ``top_k``: the same over the ``k``
      genes with the largest absolute observed change from control (:func:`top_changed_genes`).

    Lower is better for the distances, higher for the correlations.

    Parameters
    ----------
    pred
        Predicted perturbed cells.
    real
        Observed perturbed cells.
    control
        Observed control cells.
    layer
        Layer holding the expression used for gene-space metrics and the PCA; ``X`` if ``None``.
        The same layer is read from all three objects.
    obsm
        Key of an embedding present in the ``obsm`` of all three objects, used for the distribution
        metrics instead of the PCA.
    top_k
        Sizes of the top-changed gene sets; each must not exceed the number of genes.
    n_comps
        Number of principal components when ``obsm`` is ``None`` (capped by the data size).

    Returns
    -------
    A tidy :class:`pandas.DataFrame` with columns ``metric`` (str) and ``value`` (float), one row
    per metric.

    Raises
    ------
    ValueError
        If the objects do not share ``var_names`` in the same order, or ``layer``/``obsm`` is
        missing from one of them.
    """
    adatas = {"pred": pred, "real": real, "control": control}
    for name in ("pred", "control"):
        if not adatas[name].var_names.equals(real.var_names):
            raise ValueError(f"`{name}` and `real` must have the same var_names in the same order.")
    expr = {name: get_expression(adata, layer, name) for name, adata in adatas.items()}

    if obsm is None:
        emb_pred, emb_real = pca_embed(
            [expr["real"], expr["control"]], [expr["pred"], expr["real"]], n_comps=n_comps
        )
    else:
        for name, adata in adatas.items():
            if obsm not in adata.obsm:
                raise ValueError(f"Embedding {obsm!r} not found in `{name}.obsm`.")
        emb_pred = as_float64_2d(np.asarray(pred.obsm[obsm]), "pred.obsm")
        emb_real = as_float64_2d(np.asarray(real.obsm[obsm]), "real.obsm")

    rows: list[tuple[str, float]] = [
        ("energy_distance", energy_distance(emb_pred, emb_real)),
        ("energy_distance_squared", energy_distance(emb_pred, emb_real, squared=True)),
        ("mmd", mmd_rbf(emb_pred, emb_real)),
    ]
    # reduce to mean profiles once; mean_expression_scores takes 1-D input as a mean profile
    means = [column_means(expr[name], name) for name in ("pred", "real", "control")]
    all_genes = mean_expression_scores(*means)
    rows += [("r2_all", all_genes["r2"]), ("pearson_delta_all", all_genes["pearson_delta"])]
    for k in top_k:
        top = mean_expression_scores(*means, top_k=k)
        rows += [(f"r2_top{k}", top["r2"]), (f"pearson_delta_top{k}", top["pearson_delta"])]
    return pd.DataFrame(rows, columns=["metric", "value"]).astype({"value": np.float64})
