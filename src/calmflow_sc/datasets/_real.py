"""Loaders of small real single-cell perturbation datasets."""

from __future__ import annotations

import os

import anndata as ad

from ._files import DataFile, read_h5ad_quietly, resolve

__all__ = [
    "KANG2018",
    "KANG2018_COUNTS",
    "NORMAN2019_DEVEL",
    "kang2018",
    "kang2018_counts",
    "norman2019_devel",
]

_KANG_STUDY = (
    "Kang et al. 2018, 'Multiplexed droplet single-cell RNA-sequencing using natural genetic "
    "variation', Nat. Biotechnol. 36:89-94 (GEO GSE96583): human PBMCs, control vs 6 h IFN-beta"
)

KANG2018 = DataFile(
    name="kang2018_pbmc_ifnb.h5ad",
    sha256="83f89f5356a4c01f65bbcee225eb45d8d8b13b6c962724431a26c1bf568ff09e",
    study=_KANG_STUDY,
    source="the scGen repository, github.com/theislab/scgen @ dd7e178, data/valid.h5ad",
    url="https://github.com/theislab/scgen/raw/dd7e178/data/valid.h5ad",
)

KANG2018_COUNTS = DataFile(
    name="kang2018_pbmc_ifnb_counts.h5ad",
    sha256="9525f175335b99b1f8515643a9e45e5bb3fe2c854c54d01395cab2cf9674973f",
    study=_KANG_STUDY,
    source="the muscat package, github.com/HelenaLC/muscat @ 017b290, data/example_sce.rda",
    url=None,
    how_to_get=(
        "There is no public h5ad copy: convert the SingleCellExperiment in data/example_sce.rda "
        "of HelenaLC/muscat @ 017b290 to h5ad (X = counts assay, layers['logcounts'] = "
        "logcounts assay, obs = colData)."
    ),
)

NORMAN2019_DEVEL = DataFile(
    name="norman2019_mcfaline2023_devel.h5ad",
    sha256="220998f5630c813228c8661c86dd52244b9ac87127511289af90e0d900d8429b",
    study=(
        "Norman et al. 2019, 'Exploring genetic interaction manifolds constructed from rich "
        "single-cell phenotypes', Science 365:786-793 (K562 CRISPRa singles and pairs) and "
        "McFaline-Figueroa et al. 2024, 'Multiplex single-cell chemical genomics reveals the "
        "kinase dependence of the response to targeted therapy', Cell Genomics (CRISPRi in "
        "glioblastoma lines)"
    ),
    source=(
        "the PerturBench repository, github.com/altoslabs/perturbench @ d357dfa, "
        "src/perturbench/data/resources/devel.h5ad"
    ),
    url=(
        "https://github.com/altoslabs/perturbench/raw/d357dfa/"
        "src/perturbench/data/resources/devel.h5ad"
    ),
)


def kang2018(path: str | os.PathLike[str] | None = None) -> ad.AnnData:
    """Load the Kang et al. 2018 PBMC interferon-beta stimulation subset.

    Human peripheral blood mononuclear cells, control or stimulated with IFN-beta for 6 h
    (Kang et al. 2018, Nat. Biotechnol., GEO GSE96583), as shipped for validation by scGen
    (github.com/theislab/scgen @ dd7e178, ``data/valid.h5ad``; GPL-3). 1,975 cells x 6,998 genes.

    Parameters
    ----------
    path
        The file ``kang2018_pbmc_ifnb.h5ad`` or a directory containing it. If ``None``, it is
        looked up in ``$CALMFLOW_SC_DATA_DIR``, then in the cache directory
        (``$CALMFLOW_SC_CACHE_DIR`` or ``~/.cache/calmflow_sc``), and otherwise downloaded from
        the scGen repository into the cache (checksum-verified; set
        ``CALMFLOW_SC_NO_DOWNLOAD=1`` to disable).

    Returns
    -------
    anndata.AnnData
        - ``X``: log1p-normalised expression (sparse float32); no raw counts.
        - ``obs["condition"]``: ``"control"`` or ``"stimulated"``.
        - ``obs["cell_type"]``: 7 types: CD4T, CD14+Mono, B, CD8T, NK, FCGR3A+Mono, Dendritic.
        - also ``obs`` QC columns, ``obsm`` PCA/t-SNE/UMAP and a neighbour graph in ``obsp``.

    Raises
    ------
    FileNotFoundError
        If the file is not found and cannot be downloaded.

    Notes
    -----
    Cite Kang et al. 2018 and the scGen repository when using these data.
    """
    return read_h5ad_quietly(resolve(KANG2018, path))


def kang2018_counts(path: str | os.PathLike[str] | None = None) -> ad.AnnData:
    """Load a Kang et al. 2018 PBMC IFN-beta subset with raw UMI counts and two donors.

    Another subset of the Kang et al. 2018 study (Nat. Biotechnol., GEO GSE96583), the example
    data of the muscat package (github.com/HelenaLC/muscat @ 017b290, ``data/example_sce.rda``;
    GPL-3), converted from R to h5ad. 1,556 cells x 1,267 genes. There is no public h5ad copy, so
    this file is never downloaded.

    Parameters
    ----------
    path
        The file ``kang2018_pbmc_ifnb_counts.h5ad`` or a directory containing it. If ``None``, it
        is looked up in ``$CALMFLOW_SC_DATA_DIR``, then in the cache directory
        (``$CALMFLOW_SC_CACHE_DIR`` or ``~/.cache/calmflow_sc``).

    Returns
    -------
    anndata.AnnData
        - ``X``: raw UMI counts; ``layers["logcounts"]``: log-normalised expression.
        - ``obs["group_id"]``: ``"ctrl"`` or ``"stim"``.
        - ``obs["cluster_id"]``: 5 cell types (B cells, CD14+ Monocytes, CD4 T cells,
          CD8 T cells, FCGR3A+ Monocytes).
        - ``obs["sample_id"]``: donor x condition (ctrl101, ctrl107, stim101, stim107).

    Raises
    ------
    FileNotFoundError
        If the file is not found.

    Notes
    -----
    Cite Kang et al. 2018 and muscat (Crowell et al. 2020, Nat. Commun.) when using these data.
    """
    return read_h5ad_quietly(resolve(KANG2018_COUNTS, path))


def norman2019_devel(path: str | os.PathLike[str] | None = None) -> ad.AnnData:
    """Load the PerturBench development subset of Norman et al. 2019 and McFaline-Figueroa 2024.

    CRISPRa single and paired gene activations in K562 cells (Norman et al. 2019, Science) and
    CRISPRi knockdowns in three glioblastoma lines (McFaline-Figueroa et al. 2024), as shipped by
    PerturBench (github.com/altoslabs/perturbench @ d357dfa,
    ``src/perturbench/data/resources/devel.h5ad``; BSD-3-Clause). 5,961 cells x 500 genes.

    Parameters
    ----------
    path
        The file ``norman2019_mcfaline2023_devel.h5ad`` or a directory containing it. If
        ``None``, it is looked up in ``$CALMFLOW_SC_DATA_DIR``, then in the cache directory
        (``$CALMFLOW_SC_CACHE_DIR`` or ``~/.cache/calmflow_sc``), and otherwise downloaded from
        the PerturBench repository into the cache (checksum-verified; set
        ``CALMFLOW_SC_NO_DOWNLOAD=1`` to disable).

    Returns
    -------
    anndata.AnnData
        - ``X``: log1p-normalised expression (sparse float64).
        - ``obs["condition"]``: ``"control"``, single genes and pairs joined by ``"+"``
          (e.g. ``"KLF1+MAP2K6"``).
        - ``obs["cell_type"]``: ``k562`` (Norman: singles and pairs), ``T98G``, ``U87MG``,
          ``A172`` (McFaline-Figueroa: CRISPRi targets).
        - ``obs["dataset"]`` (``norman19``, ``mcfaline23``), ``obs["dose"]``,
          ``obs["perturbation_type"]`` (``CRISPRa``, ``CRISPRi``), and further PerturBench
          columns.

    Raises
    ------
    FileNotFoundError
        If the file is not found and cannot be downloaded.

    Notes
    -----
    Cite Norman et al. 2019, McFaline-Figueroa et al. 2024 and PerturBench (Wu et al. 2024) when
    using these data. The glioblastoma part has weak effects.
    """
    return read_h5ad_quietly(resolve(NORMAN2019_DEVEL, path))
