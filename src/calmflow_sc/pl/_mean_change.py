"""Predicted against observed mean change of expression, gene by gene."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..metrics import top_changed_genes
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
    layer: str | None = None,
    top_k: int = 20,
    n_labels: int = 10,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Scatter the predicted against the observed mean change from control of the top genes.

    Each point is one of the ``top_k`` genes whose observed mean changes most; the diagonal is
    a perfect prediction and the title gives the Pearson correlation (Pearson delta).

    Parameters
    ----------
    pred
        Predicted cells, e.g. the control cells after ``model.predict(..., key_added="pred")``.
    real
        Observed perturbed cells.
    control
        Observed control cells.
    pred_layer
        Layer of ``pred`` holding the prediction (e.g. ``"calmflow"``); ``X`` if ``None``.
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
    pearson = float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 0 else float("nan")
    ax.set_xlabel("observed mean change")
    ax.set_ylabel("predicted mean change")
    ax.set_title(f"top {top_k} genes, Pearson {pearson:.2f}")
    return finish(ax, show, save)
