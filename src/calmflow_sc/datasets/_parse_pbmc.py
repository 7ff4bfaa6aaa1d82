"""Loader of the Parse Biosciences 10-million-cell PBMC cytokine atlas."""

from __future__ import annotations

import os
from collections.abc import Sequence

import anndata as ad
import numpy as np
import pandas as pd

from ._files import DataFile, resolve
from ._harmonise import (
    first_column,
    harmonised_perturbations,
    log_normalize_counts,
    select_values,
)

__all__ = ["PARSE_PBMC_CYTOKINES", "parse_pbmc_cytokines"]

PARSE_URL = "https://parse-wget.s3.us-west-2.amazonaws.com/10m/Parse_10M_PBMC_cytokines.h5ad"

PARSE_PBMC_CYTOKINES = DataFile(
    name="Parse_10M_PBMC_cytokines.h5ad",
    sha256="",
    study=(
        "Parse Biosciences' 10 million PBMC cytokine screen (Oesinghaus et al. 2025, 'A "
        "single-cell cytokine dictionary of human peripheral blood', bioRxiv "
        "10.64898/2025.12.12.693897): 9,697,974 cells x 40,352 genes, 12 donors, 90 "
        "cytokines and PBS for 24 h"
    ),
    source=f"Parse Biosciences' public copy, {PARSE_URL}",
    url=None,
    how_to_get=(
        f"It is about 212 GB, so the package never downloads it on its own: run "
        f"`wget -c {PARSE_URL}` where there is room (the download resumes if interrupted)."
    ),
)

_CONTROL_LABELS = ("PBS",)
_SCHEMA = "the Parse 10M PBMC cytokine file (obs 'cytokine', 'donor', 'cell_type')"
_GROUP = ("donor", "perturbation", "cell_type")


def _harmonise(obs: pd.DataFrame) -> pd.DataFrame:
    """The package's columns for the Parse obs, added to a copy."""
    obs = obs.copy()
    cytokine = obs[first_column(obs, ["cytokine"], "cytokine", _SCHEMA)].astype(str)
    obs["perturbation"] = harmonised_perturbations(cytokine, _CONTROL_LABELS)
    for key in ("donor", "cell_type"):
        column = obs[first_column(obs, [key], key, _SCHEMA)]
        obs[key] = pd.Categorical(column.astype(str))
    return obs


def _capped(obs: pd.DataFrame, chosen: np.ndarray, most: int, seed: int) -> np.ndarray:
    """Keep at most ``most`` random cells of each donor x perturbation x cell type."""
    rng = np.random.default_rng(seed)
    positions = np.flatnonzero(chosen)
    groups = obs.iloc[positions].groupby(list(_GROUP), observed=True).indices
    kept = [
        pos if len(pos) <= most else rng.choice(pos, most, replace=False) for pos in groups.values()
    ]
    keep = np.zeros(len(obs), dtype=bool)
    if kept:
        keep[positions[np.concatenate(kept)]] = True
    return keep


def parse_pbmc_cytokines(
    path: str | os.PathLike[str] | None = None,
    backed: bool = True,
    *,
    cytokines: Sequence[str] | None = None,
    donors: Sequence[str] | None = None,
    cell_types: Sequence[str] | None = None,
    max_cells_per_group: int | None = None,
    seed: int = 0,
    log_normalize: bool = True,
) -> ad.AnnData:
    """Load the Parse Biosciences 10M PBMC cytokine atlas, whole on disk or a selection in memory.

    PBMCs of 12 donors, each treated for 24 h with one of 90 cytokines or PBS (9,697,974
    cells x 40,352 genes, raw counts; about 212 GB). Opened backed, only ``obs`` and ``var``
    are read; a selection (cytokines, donors, cell types, a cap per group) is then read into
    memory alone.

    Parameters
    ----------
    path
        The file, or a directory holding ``Parse_10M_PBMC_cytokines.h5ad``. If ``None``, that
        name is looked up in ``$CALMFLOW_SC_DATA_DIR``, then in the cache directory
        (``$CALMFLOW_SC_CACHE_DIR`` or ``~/.cache/calmflow_sc``). It is never downloaded
        automatically (the error gives the ``wget`` command).
    backed
        Open the file backed (read-only); ``False`` reads it all into memory (hundreds of GB).
    cytokines
        Keep these cytokines (the file's names, e.g. ``"IFN-gamma"``); ``"PBS"``, the control,
        is always kept. ``None`` keeps all.
    donors
        Keep these donors (``"Donor1"`` ... ``"Donor12"``); ``None`` keeps all.
    cell_types
        Keep these cell types (the file's ``cell_type``, e.g. ``"CD8 Naive"``); ``None`` keeps all.
    max_cells_per_group
        Keep at most this many random cells of each donor x perturbation x cell type.
    seed
        Seed of that random choice.
    log_normalize
        When the data end in memory (a selection, or ``backed=False``): move the raw counts to
        ``layers["counts"]`` and make ``X`` log-normalised expression (10,000 counts per cell,
        then ``log1p``), what the model expects. A backed file keeps its counts: write a
        log-normalised copy with :func:`calmflow_sc.datasets.write_log_normalized` to train
        on all of it from disk.

    Returns
    -------
    anndata.AnnData
        Backed (no selection) or in memory, with the file's ``obs`` columns and the package's:

        - ``perturbation``: the cytokine, ``"control"`` for PBS;
        - ``donor`` and ``cell_type`` as categories.

        Set up the model with ``setup_anndata(adata, perturbation_key="perturbation",
        control_value="control", cell_type_key="cell_type", covariate_keys=["donor"])``.

    Raises
    ------
    FileNotFoundError
        If the file is not found; the message says where to get it.
    KeyError, ValueError
        If the file lacks the atlas's columns, or a selected value is absent (the message
        names the values present).

    Notes
    -----
    Cite Oesinghaus et al. 2025 and Parse Biosciences when using these data. The schema is the
    public file's (obs ``cytokine``, ``donor``, ``cell_type``, ``sample``, ``treatment``, ...);
    the package's tests use small files written in it, not the file itself.
    """
    file = resolve(PARSE_PBMC_CYTOKINES, path)
    adata = ad.read_h5ad(file, backed="r" if backed else None)
    obs = _harmonise(adata.obs)
    if cytokines is not None:
        cytokines = [cytokines] if isinstance(cytokines, str) else list(cytokines)
        cytokines = sorted(set(cytokines) | set(_CONTROL_LABELS))
    chosen = select_values(obs["cytokine"], cytokines, "cytokines")
    chosen &= select_values(obs["donor"], donors, "donors")
    chosen &= select_values(obs["cell_type"], cell_types, "cell_types")
    if max_cells_per_group is not None:
        if int(max_cells_per_group) < 1:
            raise ValueError(f"max_cells_per_group must be at least 1, got {max_cells_per_group}.")
        chosen = _capped(obs, chosen, int(max_cells_per_group), seed)
    if not chosen.any():
        raise ValueError("The selection holds no cells; widen cytokines, donors or cell_types.")
    if chosen.all():
        adata.obs = obs
    else:
        subset = adata[np.flatnonzero(chosen)]
        adata = subset.to_memory() if backed else subset.copy()
        adata.obs = obs.iloc[np.flatnonzero(chosen)].copy()
        for key in ("perturbation", "donor", "cell_type"):
            adata.obs[key] = adata.obs[key].cat.remove_unused_categories()
    if log_normalize and not adata.isbacked:
        log_normalize_counts(adata)
    return adata
