"""Predicted effects against the support of the knowledge they stood on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._utils import finish, new_axes

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData
    from matplotlib.axes import Axes

#: Colour of each kind of prior.
KIND_COLOURS = {
    "context": "tab:green",
    "combination": "tab:blue",
    "knowledge": "tab:orange",
    "mean": "tab:red",
}


def support_table(adata: AnnData, keys: str | Sequence[str]) -> pd.DataFrame:
    """The support records of predictions, one row per predicted condition.

    Parameters
    ----------
    adata
        Cells predicted with ``model.predict(..., key_added=key)`` by a model with
        ``condition_prior=True``.
    keys
        The ``key_added`` of each prediction.

    Raises
    ------
    KeyError
        If a key records no support (a model without ``condition_prior``, or no such key).
    """
    frames = []
    for key in [keys] if isinstance(keys, str) else list(keys):
        params = adata.uns.get(f"{key}_params", {})
        if "support" not in params:
            raise KeyError(
                f"adata.uns[{key + '_params'!r}] records no support: predict with a model "
                "built with condition_prior=True, key_added=" + repr(key) + "."
            )
        frames.append(pd.DataFrame(dict(params["support"])).assign(key=key))
    return pd.concat(frames, ignore_index=True)


def prior_support(
    adata: AnnData,
    keys: str | Sequence[str],
    *,
    n_labels: int = 10,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Scatter each predicted condition's shift against the support of its prior.

    One point per condition predicted (``uns[key + "_params"]["support"]`` of each key), at
    its support (x) and the size of its predicted mean shift from the starting cells in
    principal-component space (y), coloured by the kind of prior; a grey mark shows the prior's
    own shift. Predictions of low support lean on the mean measured effect.

    Parameters
    ----------
    adata
        Cells predicted by a model with ``condition_prior=True``.
    keys
        The ``key_added`` of the predictions to show.
    n_labels
        How many conditions to label, the lowest support first.
    ax, show, save
        As in scanpy's plotting functions.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    table = support_table(adata, keys)
    ax = new_axes(ax, (5.0, 4.0))
    ax.scatter(
        table["support"], table["prior_shift"], s=40, color="lightgrey", zorder=2, label="prior"
    )
    for kind, colour in KIND_COLOURS.items():
        rows = table[table["kind"] == kind]
        if len(rows):
            ax.scatter(
                rows["support"], rows["predicted_shift"], s=22, color=colour, zorder=3, label=kind
            )
    for _, row in table.nsmallest(n_labels, "support").iterrows():
        ax.annotate(
            row["perturbation"],
            (row["support"], row["predicted_shift"]),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(
        bottom=0, top=max(float(np.nanmax(table[["prior_shift", "predicted_shift"]])), 1e-6) * 1.1
    )
    ax.set_xlabel("support (similarity of the nearest measured component)")
    ax.set_ylabel("mean shift (PC space)")
    ax.legend(fontsize=7, frameon=False)
    return finish(ax, show, save)
