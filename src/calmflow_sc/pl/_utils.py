"""Figure handling shared by the plotting functions, the scanpy way."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def recorded_prediction(
    pred: AnnData, pred_layer: str | None, key: str | None
) -> tuple[str | None, dict[str, Any]]:
    """The layer holding a prediction and the arguments ``predict`` recorded for it.

    A prediction written by :meth:`~calmflow_sc.CaLMFlowPerturb.predict` with ``key_added=key``
    records its arguments in ``pred.uns[key + "_params"]`` (as scanpy's tools do). With
    ``pred_layer`` given, that layer is read and its record, if any, returned. Otherwise the
    layer is ``key`` (the one prediction recorded in ``pred`` when ``key`` is ``None``), or
    ``X`` when ``pred`` has no such layer (an AnnData returned with ``inplace=False``) or
    records no prediction.

    Parameters
    ----------
    pred
        The predicted cells.
    pred_layer
        Layer asked for by the caller, or ``None``.
    key
        The ``key_added`` of the prediction, or ``None`` to find it.

    Returns
    -------
    The layer (``None`` for ``X``) and the recorded arguments (empty if none).
    """
    if pred_layer is not None:
        return pred_layer, dict(pred.uns.get(f"{pred_layer}_params", {}))
    if key is None:
        recorded = [
            name.removesuffix("_params")
            for name, value in pred.uns.items()
            if name.endswith("_params") and isinstance(value, Mapping) and "perturbation" in value
        ]
        if len(recorded) > 1:
            raise ValueError(
                f"pred holds the predictions of several calls ({sorted(recorded)}); pass "
                "key= (the key_added of the one to plot) or pred_layer=."
            )
        if not recorded:
            return None, {}
        key = recorded[0]
    elif f"{key}_params" not in pred.uns:
        raise KeyError(
            f"pred.uns has no {key + '_params'!r}: pass the key_added of the model.predict call "
            "that wrote the prediction, or pred_layer=."
        )
    return (key if key in pred.layers else None), dict(pred.uns[f"{key}_params"])
