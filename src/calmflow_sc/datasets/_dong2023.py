"""Loader of the CINEMA-OT combinatorial cytokine PBMC experiment (Dong et al. 2023)."""

from __future__ import annotations

import os
import re
import warnings

import anndata as ad
import pandas as pd

from ._files import DataFile, resolve
from ._harmonise import first_column, harmonised_perturbations, log_normalize_counts

__all__ = ["DONG2023", "dong2023_cinemaot"]

DONG2023 = DataFile(
    name="dong2023_cinemaot.h5ad",
    sha256="",
    study=(
        "Dong et al. 2023, 'Causal identification of single-cell experimental perturbation "
        "effects with CINEMA-OT', Nat. Methods 20:1769-1779: human PBMCs of 3 donors, acute "
        "and chronic exposure to 6 cytokines and 3 pairs"
    ),
    source="the study's Dryad deposit, doi:10.5061/dryad.4xgxd25g1",
    url=None,
    how_to_get=(
        "Download the study's h5ad file (about 96,000 cells x 21,710 genes) by hand from "
        "https://datadryad.org/dataset/doi:10.5061/dryad.4xgxd25g1 (Dryad serves it to a "
        "browser, so the package does not download it), then pass its path as `path=` or save it "
        "as dong2023_cinemaot.h5ad."
    ),
)

_CONTROL_LABELS = ("No stimulation",)
_BATCH = re.compile(r"^\s*(donor\s*\d+)\s+(acute|chronic)\s*$", re.IGNORECASE)
_SCHEMA = "the CINEMA-OT file of Dong et al. 2023 (obs 'perturbation', 'batch', 'cell_type0528')"


def _donor_and_chronicity(obs: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each cell's donor and chronicity, from their columns or from ``batch``."""
    if "chronicity" in obs.columns and "donor" in obs.columns:
        return obs["donor"].astype(str), obs["chronicity"].astype(str).str.lower()
    batch = obs[first_column(obs, ["batch"], "donor and chronicity", _SCHEMA)].astype(str)
    parsed = batch.str.extract(_BATCH)
    unparsed = sorted(set(batch[parsed[0].isna()]))
    if unparsed:
        raise ValueError(
            f"obs['batch'] values {unparsed[:5]} do not read as '<Donor N> <acute|chronic>' "
            "(e.g. 'Donor 2 chronic'). Add obs columns 'donor' and 'chronicity' instead."
        )
    donor = parsed[0].str.replace(r"(?i)donor\s*", "Donor ", regex=True)
    return donor, parsed[1].str.lower()


def _harmonise(adata: ad.AnnData) -> None:
    """Add the package's obs columns to a CINEMA-OT AnnData, in place."""
    obs = adata.obs
    stimulation = obs[first_column(obs, ["perturbation"], "perturbation", _SCHEMA)].astype(str)
    cell_type = obs[first_column(obs, ["cell_type0528", "cell_type"], "cell-type", _SCHEMA)]
    donor, chronicity = _donor_and_chronicity(obs)
    adata.obs["stimulation"] = pd.Categorical(stimulation)
    adata.obs["perturbation"] = harmonised_perturbations(stimulation, _CONTROL_LABELS)
    adata.obs["cell_type"] = pd.Categorical(cell_type.astype(str))
    adata.obs["donor"] = pd.Categorical(donor.to_numpy())
    adata.obs["chronicity"] = pd.Categorical(chronicity.to_numpy())


def dong2023_cinemaot(
    path: str | os.PathLike[str] | None = None, *, log_normalize: bool = True
) -> ad.AnnData:
    """Load the CINEMA-OT combinatorial cytokine stimulation of PBMCs (the CaLMFlow paper's data).

    Human peripheral blood mononuclear cells of 3 donors, exposed acutely or chronically to
    IFN-beta, IFN-gamma, IFN-alpha2, IFN-III (lambda), IL-6 and TNF-alpha, to the pairs
    IFN-beta + IFN-gamma, IFN-beta + IL-6 and IFN-beta + TNF-alpha, or left unstimulated
    (Dong et al. 2023, Nat. Methods; Dryad doi:10.5061/dryad.4xgxd25g1): about 96,000 cells x
    21,710 genes, 7 cell types. The file has no public copy that can be fetched without a
    browser, so it is never downloaded: get it by hand (the error says where).

    Parameters
    ----------
    path
        The file, or a directory holding ``dong2023_cinemaot.h5ad``. If ``None``, that name is
        looked up in ``$CALMFLOW_SC_DATA_DIR``, then in the cache directory
        (``$CALMFLOW_SC_CACHE_DIR`` or ``~/.cache/calmflow_sc``).
    log_normalize
        If ``X`` holds raw counts, move them to ``layers["counts"]`` and make ``X``
        log-normalised expression (10,000 counts per cell, then ``log1p``), what the model
        expects. Data already normalised are left as they are.

    Returns
    -------
    anndata.AnnData
        The file's data, with the package's columns added to ``obs`` (the file's own columns
        are kept):

        - ``perturbation``: ``"control"`` for "No stimulation", the cytokine (``"IFNb"``,
          ``"IFNg"``, ``"IFNa2"``, ``"IFN-III"``, ``"IL-6"``, ``"TNFa"``), or a pair joined
          by ``"+"`` (``"IFNb+IFNg"``);
        - ``stimulation``: the file's own label (``"No stimulation"``, ``"IFNb + IFNg"``, ...);
        - ``cell_type``: from ``cell_type0528`` (or ``cell_type``): CD4 T, CD8 T, NK, B,
          Monocyte, Dendritic, Plasma;
        - ``donor`` (``"Donor 1"`` ...) and ``chronicity`` (``"acute"``, ``"chronic"``), read
          from ``batch`` (``"Donor 2 chronic"``) unless the file has both columns.

        Duplicated cell names (the deposit has some) are made unique. Set up the model with
        ``setup_anndata(adata, perturbation_key="perturbation", control_value="control",
        cell_type_key="cell_type", covariate_keys=["chronicity", "donor"])``; the paper's
        held-out conditions are :func:`calmflow_sc.data.cinemaot_splits`.

    Raises
    ------
    FileNotFoundError
        If the file is not found; the message says where to get it.
    KeyError, ValueError
        If the file lacks the study's columns (the message names what was found).

    Notes
    -----
    Cite Dong et al. 2023 when using these data. The schema (obs ``perturbation``, ``batch``,
    ``cell_type0528``) is the one the CaLMFlow authors' code reads; the package's tests use
    small files written in it, not the deposit itself.
    """
    file = resolve(DONG2023, path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*names are not unique")
        adata = ad.read_h5ad(file)
        if not adata.obs_names.is_unique:
            adata.obs_names_make_unique()
    _harmonise(adata)
    if log_normalize:
        log_normalize_counts(adata)
    return adata
