"""Metrics of several models side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ._utils import finish, new_axes

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from matplotlib.axes import Axes


def metrics_comparison(
    tables: Mapping[str, pd.DataFrame] | pd.DataFrame,
    metric: str = "energy_distance",
    *,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Bar chart of one metric for several models.

    Parameters
    ----------
    tables
        ``{model: table}`` with tables of :func:`calmflow_sc.metrics.evaluate`, or one tidy
        frame with columns ``model``, ``metric`` and ``value`` (several rows of a model, e.g.
        groups or seeds, are averaged).
    metric
        The metric to show.
    ax, show, save
        As in scanpy's plotting functions.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    if not isinstance(tables, pd.DataFrame):
        tables = pd.concat(
            [table.assign(model=model) for model, table in tables.items()], ignore_index=True
        )
    missing = {"model", "metric", "value"} - set(tables.columns)
    if missing:
        raise KeyError(f"The metrics table lacks the columns {sorted(missing)}.")
    chosen = tables[tables["metric"] == metric]
    if chosen.empty:
        raise ValueError(
            f"No rows of metric {metric!r}; available: {sorted(set(tables['metric']))}."
        )
    values = chosen.groupby("model", sort=False)["value"].mean()
    ax = new_axes(ax, (1.2 + 0.7 * len(values), 3.5))
    ax.bar(range(len(values)), values.to_numpy(), color="tab:blue")
    ax.set_xticks(range(len(values)), values.index, rotation=30, ha="right")
    ax.set_ylabel(metric)
    lower = metric in {
        "energy_distance",
        "energy_distance_squared",
        "mmd",
        "wasserstein2",
        "sinkhorn",
    }
    ax.set_title(f"{metric} ({'lower' if lower else 'higher'} is better)")
    return finish(ax, show, save)
