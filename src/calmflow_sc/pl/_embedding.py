"""A joint embedding of observed and predicted cells."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anndata
import numpy as np
import pandas as pd

from ._utils import dense_expression, finish, new_axes

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData
    from matplotlib.axes import Axes

ORIGIN_COLORS = {"control": "#bbbbbb", "observed": "#1f77b4", "predicted": "#ff7f0e"}


def joint_embedding(
    pred: AnnData,
    real: AnnData,
    control: AnnData | None = None,
    *,
    pred_layer: str | None = None,
    layer: str | None = None,
    basis: str = "umap",
    color: str = "origin",
    n_comps: int = 30,
    seed: int = 0,
    ax: Axes | None = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Axes | None:
    """Embed predicted, observed perturbed and control cells together and plot them.

    The cells are concatenated (``obs["origin"]`` = ``"predicted"``, ``"observed"`` or
    ``"control"``), a PCA is fitted on the observed cells only, so the prediction cannot shape
    the space, and with ``basis="umap"`` scanpy's neighbours and UMAP run on it.

    Parameters
    ----------
    pred
        Predicted cells.
    real
        Observed perturbed cells.
    control
        Observed control cells (optional).
    pred_layer
        Layer of ``pred`` holding the prediction; ``X`` if ``None``.
    layer
        Layer of ``real`` and ``control``; ``X`` if ``None``.
    basis
        ``"umap"`` or ``"pca"``.
    color
        ``"origin"`` or an ``obs`` column shared by the inputs (e.g. the perturbation).
    n_comps
        Principal components.
    seed
        Seed of UMAP.
    ax, show, save
        As in scanpy's plotting functions.

    Returns
    -------
    The axes, unless the figure is shown.
    """
    import scanpy as sc

    if basis not in ("umap", "pca"):
        raise ValueError(f"basis must be 'umap' or 'pca', got {basis!r}.")
    parts = {"predicted": (pred, pred_layer), "observed": (real, layer)}
    if control is not None:
        parts["control"] = (control, layer)
    blocks = []
    for origin, (adata, key) in parts.items():
        obs = adata.obs.copy()
        obs["origin"] = origin
        obs.index = [f"{origin}-{i}" for i in range(adata.n_obs)]
        blocks.append(anndata.AnnData(dense_expression(adata, key), obs=obs))
    joint = anndata.concat(blocks, join="inner")
    if color not in joint.obs:
        raise KeyError(f"color={color!r} is not a column shared by the inputs' obs.")
    order = [name for name in ORIGIN_COLORS if name in parts]
    joint.obs["origin"] = pd.Categorical(joint.obs["origin"], categories=order)
    observed = (joint.obs["origin"] != "predicted").to_numpy()
    n_comps = int(min(n_comps, observed.sum() - 1, joint.n_vars - 1))
    from sklearn.decomposition import PCA

    pca = PCA(n_comps, random_state=seed).fit(joint.X[observed])
    joint.obsm["X_pca"] = pca.transform(joint.X).astype(np.float32)
    if basis == "umap":
        sc.pp.neighbors(joint, use_rep="X_pca", random_state=seed)
        sc.tl.umap(joint, random_state=seed)
    ax = new_axes(ax, (5, 4.5))
    palette = [ORIGIN_COLORS[name] for name in order] if color == "origin" else None
    sc.pl.embedding(
        joint, basis=basis, color=color, palette=palette, ax=ax, show=False, frameon=True
    )
    return finish(ax, show, save)
