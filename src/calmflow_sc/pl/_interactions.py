"""The coefficients of each pair's fit on its singles, coloured by the interaction call."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
from anndata import AnnData

from ._utils import finish, new_axes

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.axes import Axes

_COLOURS = {
    "additive": "tab:grey",
    "synergistic": "tab:red",
    "buffering": "tab:blue",
    "first dominant": "tab:orange",
    "second dominant": "tab:purple",
    "neomorphic": "tab:green",
}


def interactions(
    table: pd.DataFrame | AnnData,
    *,
    key: str = "calmflow_interactions",
    annotate: bool = True,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Scatter the coefficients of the first and second single of each pair.

    The additive expectation is the point (1, 1); its diagonal separates pairs where the
    first single dominates (below) from those where the second does (above).

    Parameters
    ----------
    table
        The output of :func:`calmflow_sc.tl.interactions`, or the AnnData it was called on:
        the table it stored in ``adata.uns[key]`` is read.
    key
        The ``key_added`` of :func:`calmflow_sc.tl.interactions` (with an AnnData).
    annotate
        Write each pair's name next to its point.
    ax, show, save
        As in scanpy's plotting functions.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    if isinstance(table, AnnData):
        if key not in table.uns:
            raise KeyError(
                f"adata.uns has no {key!r}: run calmflow_sc.tl.interactions(adata) first, or "
                "pass the key_added it was given."
            )
        table = pd.DataFrame(dict(table.uns[key]))
    missing = {"pair", "coef_first", "coef_second", "label"} - set(table.columns)
    if missing:
        raise KeyError(
            f"The table lacks the columns {sorted(missing)}; pass the output of "
            "calmflow_sc.tl.interactions."
        )
    ax = new_axes(ax, (4.5, 4.5))
    for label, rows in table.groupby("label", sort=False):
        ax.scatter(
            rows["coef_first"],
            rows["coef_second"],
            label=label,
            color=_COLOURS.get(label, "black"),
            s=40,
        )
        if annotate:
            for _, row in rows.iterrows():
                ax.annotate(
                    row["pair"],
                    (row["coef_first"], row["coef_second"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
    ax.scatter([1.0], [1.0], marker="+", color="black", s=80, label="additive expectation")
    low = min(0.0, table["coef_first"].min(), table["coef_second"].min())
    high = max(1.5, table["coef_first"].max(), table["coef_second"].max())
    ax.plot([low, high], [low, high], color="lightgrey", linewidth=0.8, zorder=0)
    ax.set_xlabel("coefficient of the first single")
    ax.set_ylabel("coefficient of the second single")
    ax.legend(frameon=False, fontsize=7)
    return finish(ax, show, save)
