"""Evaluation of a predicted perturbation response against the observed one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._anndata import get_expression, sample_rows
from .._expression import LOG_NORMALISE_FIX, expression_scale, value_summary
from .._outputs import recorded_prediction
from ._array import as_float64_2d, column_means
from ._de import de_overlaps
from ._energy import energy_distance
from ._mean_expression import mean_expression_scores
from ._mmd import mmd_rbf
from ._pca import pca_embed
from ._transport import sinkhorn_divergence, wasserstein

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData


def evaluate(
    pred: AnnData,
    real: AnnData,
    control: AnnData,
    *,
    layer: str | None = None,
    pred_layer: str | None = None,
    key: str | None = None,
    obsm: str | None = None,
    top_k: Sequence[int] = (20, 50, 100),
    n_comps: int = 50,
    transport: bool = True,
    sinkhorn_epsilon: float | None = None,
    de_k: Sequence[int] = (50,),
    groupby: str | None = None,
) -> pd.DataFrame:
    """Score predicted perturbed cells against observed perturbed and control cells.

    Distribution metrics compare the predicted and observed cells in a low-dimensional embedding:
    ``adata.obsm[obsm]`` of each object when ``obsm`` is given, otherwise a PCA with ``n_comps``
    components fitted on the observed perturbed and control cells together (the prediction does
    not influence the embedding) onto which all three are projected. Gene-space metrics compare
    mean expression profiles (see :func:`mean_expression_scores`) in ``X`` or ``layer``.
    Expression on another scale than the others' (raw counts beside log-normalised values,
    normalised values that were not log-transformed, scaled values) is refused.

    The returned metrics are, in order:

    - ``energy_distance``: :func:`energy_distance` (Euclidean, pred vs real, embedding);
    - ``energy_distance_squared``: :func:`energy_distance` with ``squared=True``;
    - ``mmd``: :func:`mmd_rbf` with the default bandwidths (pred vs real, embedding);
    - ``wasserstein2`` and ``sinkhorn``: :func:`wasserstein` (``p=2``) and
      :func:`sinkhorn_divergence` (embedding), when ``transport``;
    - ``r2_all``, ``pearson_delta_all``: squared Pearson correlation of the mean expression and
      Pearson correlation of the mean change from control, over all genes;
    - ``mse_all``, ``mae_all``: mean squared and mean absolute difference of the predicted and
      observed mean expression profiles, over all genes (cell-eval's ``mse`` and ``mae``);
    - ``r2_top{k}``, ``pearson_delta_top{k}`` for each ``k`` in ``top_k``: the same over the ``k``
      genes with the largest absolute observed change from control (:func:`top_changed_genes`);
    - ``de_overlap_top{k}`` for each ``k`` in ``de_k``: :func:`de_overlap` (Wilcoxon tests of
      scanpy's ``rank_genes_groups`` over the genes detected in at least 5% of the observed
      cells, gene space; a predicted gene counts only when its change is significant, so
      predicting no change scores 0).

    Lower is better for the distances, higher for the correlations and overlaps.

    Parameters
    ----------
    pred
        Predicted perturbed cells.
    real
        Observed perturbed cells.
    control
        Observed control cells.
    layer
        Layer of ``real`` and ``control`` holding the expression used for gene-space metrics
        and the PCA; ``X`` if ``None``.
    pred_layer
        Layer of ``pred`` holding the prediction (e.g. ``"calmflow"``). ``None`` reads what
        ``predict`` recorded in ``pred.uns[key + "_params"]`` (the layer ``key`` of cells
        predicted in place); for a ``pred`` that records no prediction, ``layer``.
    key
        The ``key_added`` of the prediction to score; ``None`` for the one ``pred`` records.
    obsm
        Key of an embedding present in the ``obsm`` of all three objects, used for the distribution
        metrics instead of the PCA.
    top_k
        Sizes of the top-changed gene sets; each must not exceed the number of genes.
    n_comps
        Number of principal components when ``obsm`` is ``None`` (capped by the data size).
    transport
        Also compute the optimal-transport metrics (cubic in the number of cells).
    sinkhorn_epsilon
        Entropic regularisation of the Sinkhorn divergence; ``None`` scales it to the observed
        cells (:func:`sinkhorn_divergence`).
    de_k
        Sizes of the DE gene sets compared; empty to skip the tests.
    groupby
        Column of ``obs`` (in ``pred`` and ``real``) splitting the cells into groups scored
        separately, e.g. the perturbation or cell type; the controls of a group are those with
        the same value when ``control`` has the column, otherwise all of them.

    Returns
    -------
    A tidy :class:`pandas.DataFrame` with columns ``group`` (``"all"`` without ``groupby``),
    ``metric`` (str) and ``value`` (float), one row per group and metric.

    Raises
    ------
    ValueError
        If the objects do not share ``var_names`` in the same order, ``layer``/``obsm`` is
        missing from one of them, or their expression is on different scales.
    """
    adatas = {"pred": pred, "real": real, "control": control}
    pred_read = recorded_prediction(pred, pred_layer, key)[0]
    if pred_read is None and pred_layer is None and key is None:
        pred_read = layer  # no recorded prediction: pred is read as the other two
    layers = {"pred": pred_read, "real": layer, "control": layer}
    check_same_scale(adatas, layers)
    for name in ("pred", "control"):
        if not adatas[name].var_names.equals(real.var_names):
            raise ValueError(f"`{name}` and `real` must have the same var_names in the same order.")
    if groupby is None:
        table = _evaluate_group(
            pred, real, control, layers, obsm, top_k, n_comps, transport, sinkhorn_epsilon, de_k
        )
        return table.assign(group="all")[["group", "metric", "value"]]
    for name in ("pred", "real"):
        if groupby not in adatas[name].obs:
            raise ValueError(f"Column {groupby!r} not found in `{name}.obs`.")
    pred_groups = pred.obs[groupby].astype(str)
    real_groups = real.obs[groupby].astype(str)
    shared = sorted(set(pred_groups) & set(real_groups))
    if not shared:
        raise ValueError(f"`pred` and `real` share no value of {groupby!r}.")
    tables = []
    for group in shared:
        group_control = control
        if groupby in control.obs and (control.obs[groupby].astype(str) == group).any():
            group_control = control[(control.obs[groupby].astype(str) == group).to_numpy()]
        table = _evaluate_group(
            pred[(pred_groups == group).to_numpy()],
            real[(real_groups == group).to_numpy()],
            group_control,
            layers,
            obsm,
            top_k,
            n_comps,
            transport,
            sinkhorn_epsilon,
            de_k,
        )
        tables.append(table.assign(group=group))
    return pd.concat(tables, ignore_index=True)[["group", "metric", "value"]]


def check_same_scale(adatas: dict[str, AnnData], layers: dict[str, str | None]) -> None:
    """Refuse expression of the three objects on different scales, naming the fix.

    Log-normalised predictions scored against raw counts (or normalised values that were not
    log-transformed, or scaled values) give numbers that mean nothing.

    Parameters
    ----------
    adatas
        ``pred``, ``real`` and ``control``.
    layers
        The layer read from each (``None`` for ``X``).
    """
    scales = {}
    for name, adata in adatas.items():
        where = f"{name}.layers[{layers[name]!r}]" if layers[name] is not None else f"{name}.X"
        stats = value_summary(sample_rows(get_expression(adata, layers[name], name), 2000), where)
        scales[name] = (expression_scale(stats), where)
    if len({scale for scale, _ in scales.values()}) > 1:
        phrases = {
            "log-normalised": "log-normalised values",
            "counts": "raw counts",
            "normalised": "normalised values that were not log-transformed",
            "scaled": "scaled values",
        }
        found = "; ".join(f"{where} holds {phrases[scale]}" for scale, where in scales.values())
        raise ValueError(
            f"The expression to compare is on different scales: {found}. Score every object on "
            f"one scale, e.g. log-normalise the counts ({LOG_NORMALISE_FIX}) or name the "
            "log-normalised layer with layer= / pred_layer=."
        )


def _evaluate_group(
    pred: AnnData,
    real: AnnData,
    control: AnnData,
    layers: dict[str, str | None],
    obsm: str | None,
    top_k: Sequence[int],
    n_comps: int,
    transport: bool,
    sinkhorn_epsilon: float | None,
    de_k: Sequence[int],
) -> pd.DataFrame:
    adatas = {"pred": pred, "real": real, "control": control}
    expr = {name: get_expression(adata, layers[name], name) for name, adata in adatas.items()}

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
    if transport:
        rows += [
            ("wasserstein2", wasserstein(emb_pred, emb_real, p=2)),
            ("sinkhorn", sinkhorn_divergence(emb_pred, emb_real, epsilon=sinkhorn_epsilon)),
        ]
    # reduce to mean profiles once; mean_expression_scores takes 1-D input as a mean profile
    means = [column_means(expr[name], name) for name in ("pred", "real", "control")]
    all_genes = mean_expression_scores(*means)
    rows += [("r2_all", all_genes["r2"]), ("pearson_delta_all", all_genes["pearson_delta"])]
    error = np.asarray(means[0], dtype=np.float64) - np.asarray(means[1], dtype=np.float64)
    rows += [("mse_all", float(np.mean(error**2))), ("mae_all", float(np.mean(np.abs(error))))]
    for k in top_k:
        top = mean_expression_scores(*means, top_k=k)
        rows += [(f"r2_top{k}", top["r2"]), (f"pearson_delta_top{k}", top["pearson_delta"])]
    if de_k:
        overlaps = de_overlaps(expr["pred"], expr["real"], expr["control"], list(de_k))
        rows += [(f"de_overlap_top{k}", overlaps[k]) for k in de_k]
    return pd.DataFrame(rows, columns=["metric", "value"]).astype({"value": np.float64})
