"""Figure handling shared by the plotting functions, the scanpy way."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._anndata import get_expression
from .._dense import to_dense_float64

if TYPE_CHECKING:
    import numpy as np
    from anndata import AnnData
    from matplotlib.axes import Axes


def new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    """``ax``, or the axes of a new figure."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


def finish(ax: Axes, show: bool | None, save: str | Path | None) -> Axes | None:
    """Save and show the figure of ``ax`` as scanpy does.

    ``show=None`` shows the figure only when it is not saved; the axes are returned when the
    figure is not shown.
    """
    import matplotlib.pyplot as plt

    figure = ax.figure
    if save is not None:
        figure.savefig(save, bbox_inches="tight", dpi=150)
    if show is None:
        show = save is None and plt.isinteractive()
    if show:
        plt.show()
        return None
    return ax


def dense_expression(adata: AnnData, layer: str | None) -> np.ndarray:
    """Dense float64 expression of ``layer`` (``X`` for ``None``)."""
    return to_dense_float64(get_expression(adata, layer))
