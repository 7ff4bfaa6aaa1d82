"""Predicted against observed mean change of expression, gene by gene."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._outputs import recorded_prediction
from ..metrics import pearson_r, top_changed_genes
from ._utils import dense_expression, finish, new_axes

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData
    from matplotlib.axes import Axes


def mean_change(
    pred: AnnData,
    real: AnnData,
    control: AnnData,
    *,
    pred_layer: str | None = None,
    key: str | None = None,
    layer: str | None = None,
    top_k: int = 20,
    n_labels: int = 10,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Scatter the predicted against the observed mean change from control of the top genes.

    Each point is one of the ``top_k`` genes whose observed mean changes most; the diagonal is
    a perfect prediction and the title gives the predicted perturbation (as ``predict``
    recorded it) and the Pearson correlation (Pearson delta, NaN for a constant change).

    Parameters
    ----------
    pred
        Predicted cells, e.g. the control cells after ``model.predict(..., key_added="pred")``.
    real
        Observed perturbed cells.
    control
        Observed control cells.
    pred_layer
        Layer of ``pred`` holding the prediction (e.g. ``"calmflow"``). ``None`` reads what
        ``predict`` recorded in ``pred.uns[key + "_params"]``: the layer ``key``, or ``X`` when
        ``pred`` has no such layer or records no prediction.
    key
        The ``key_added`` of the prediction to plot; ``None`` for the one ``pred`` records.
    layer
        Layer of ``real`` and ``control``; ``X`` if ``None``.
    top_k
        Number of genes shown.
    n_labels
        Number of genes, the largest observed changes, labelled by name.
    ax
        Axes to draw into; a new figure if ``None``.
    show
        Show the figure; by default only when it is not saved.
    save
        File to save the figure to.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    pred_layer, params = recorded_prediction(pred, pred_layer, key)
    predicted = dense_expression(pred, pred_layer)
    observed = dense_expression(real, layer)
    baseline = dense_expression(control, layer).mean(0)
    top = top_changed_genes(observed, baseline, top_k)
    x = observed.mean(0)[top] - baseline[top]
    y = predicted.mean(0)[top] - baseline[top]
    ax = new_axes(ax, (4.5, 4.5))
    ax.scatter(x, y, s=18, color="tab:blue", zorder=3)
    low, high = min(x.min(), y.min()), max(x.max(), y.max())
    ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", zorder=1)
    ax.axhline(0, color="lightgrey", lw=0.8, zorder=0)
    ax.axvline(0, color="lightgrey", lw=0.8, zorder=0)
    names = np.asarray(real.var_names)[top]
    for i in range(min(n_labels, len(top))):
        ax.annotate(names[i], (x[i], y[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    pearson = pearson_r(x, y)
    ax.set_xlabel("observed mean change")
    ax.set_ylabel("predicted mean change")
    title = f"top {top_k} genes, Pearson {pearson:.2f}"
    if "perturbation" in params:
        title = f"{params['perturbation']}: {title}"
    ax.set_title(title)
    return finish(ax, show, save)


def mean_change_heatmap(
    pred: AnnData | dict[str, AnnData],
    real: AnnData,
    control: AnnData,
    *,
    pred_layer: str | None = None,
    key: str | None = None,
    layer: str | None = None,
    top_k: int = 20,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Heatmap of the observed and predicted mean change from control of the top genes.

    One row for the observation and one per prediction, one column per gene (the ``top_k``
    genes whose observed mean changes most, largest first), coloured by the change on a
    symmetric red-blue scale.

    Parameters
    ----------
    pred
        Predicted cells, or ``{name: predicted cells}`` to compare several models (each read
        from ``pred_layer``).
    real, control
        Observed perturbed and control cells.
    pred_layer
        Layer of the predictions; ``None`` reads what ``predict`` recorded in each, as
        :func:`mean_change` does.
    key
        The ``key_added`` of the predictions; ``None`` for the one each records.
    layer
        Layer of ``real`` and ``control``; ``X`` if ``None``.
    top_k
        Number of genes.
    ax, show, save
        As in scanpy's plotting functions.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    predictions = pred if isinstance(pred, dict) else {"predicted": pred}
    baseline = dense_expression(control, layer).mean(0)
    observed = dense_expression(real, layer).mean(0) - baseline
    top = top_changed_genes(observed, np.zeros_like(observed), top_k)
    rows = {"observed": observed[top]}
    for name, adata in predictions.items():
        read = recorded_prediction(adata, pred_layer, key)[0]
        rows[name] = dense_expression(adata, read).mean(0)[top] - baseline[top]
    values = np.stack(list(rows.values()))
    ax = new_axes(ax, (0.35 * top_k + 2, 0.45 * len(rows) + 1.2))
    limit = float(np.abs(values).max()) or 1.0
    image = ax.imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(top)), np.asarray(real.var_names)[top], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), list(rows))
    ax.figure.colorbar(image, ax=ax, label="mean change from control", shrink=0.8)
    ax.set_title(f"top {top_k} genes")
    return finish(ax, show, save)
