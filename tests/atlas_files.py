"""Small files written in the exact schemas of the public cytokine atlases the package reads.

- :func:`write_cinemaot_file`: the CINEMA-OT deposit of Dong et al. 2023 as the CaLMFlow
  authors' code reads it (raw counts; obs ``perturbation`` with "No stimulation" and pairs
  written ``"IFNb + IFNg"``, ``batch`` as ``"Donor 2 chronic"``, ``cell_type0528``, QC
  columns; duplicated cell names).
- :func:`write_parse_file`: Parse Biosciences' 10M PBMC cytokine file (sparse float32 counts;
  obs ``bc1_well`` ... ``tscp_count``, ``cytokine`` with "PBS", ``donor`` as ``"Donor1"``,
  ``sample`` as ``"Donor1_IL-2"``; var ``n_cells``).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

CINEMAOT_CELL_TYPES = ["Plasma", "NK", "CD4 T", "Dendritic", "Monocyte", "CD8 T", "B"]
CINEMAOT_STIMULATIONS = [
    "No stimulation",
    "IL-6",
    "IFNa2",
    "IFNb + IFNg",
    "IFNb + IL-6",
    "IFNg",
    "TNFa",
    "IFNb",
    "IFN-III",
    "IFNb + TNFa",
]
PARSE_CYTOKINES = ["PBS", "IFN-gamma", "IL-2", "4-1BBL"]
PARSE_CELL_TYPES = ["CD8 Naive", "CD14 Mono", "NK CD56bright"]


def _counts(rng: np.random.Generator, rates: np.ndarray) -> np.ndarray:
    return rng.poisson(rates).astype(np.float32)


def write_cinemaot_file(
    path: Path, cells_per_group: int = 3, n_genes: int = 40, seed: int = 0
) -> Path:
    """Write a CINEMA-OT-schema file: 7 cell types x 10 stimulations x 3 donors x 2 exposures."""
    rng = np.random.default_rng(seed)
    rows = [
        (cell_type, stimulation, donor, exposure)
        for cell_type in CINEMAOT_CELL_TYPES
        for stimulation in CINEMAOT_STIMULATIONS
        for donor in (1, 2, 3)
        for exposure in ("acute", "chronic")
        for _ in range(cells_per_group)
    ]
    base = rng.gamma(2.0, 2.0, size=(len(CINEMAOT_CELL_TYPES), n_genes))
    effect = rng.gamma(1.0, 3.0, size=(len(CINEMAOT_STIMULATIONS), n_genes))
    base[:, :2] *= 0.1  # the two mitochondrial genes hold about 1% of the counts
    effect[0] = 0.0
    effect[:, n_genes // 2 :] = 0.0  # half the genes respond, not the mitochondrial ones
    effect[:, :2] = 0.0
    rates = np.stack(
        [
            base[CINEMAOT_CELL_TYPES.index(t)]
            + effect[CINEMAOT_STIMULATIONS.index(s)] * (1.5 if e == "chronic" else 1.0)
            for t, s, _, e in rows
        ]
    )
    counts = _counts(rng, rates)
    n_genes_by_counts = (counts > 0).sum(1)
    total = counts.sum(1)
    mt = counts[:, :2].sum(1)
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical([s for _, s, _, _ in rows]),
            "n_genes": n_genes_by_counts,
            "n_genes_by_counts": n_genes_by_counts,
            "total_counts": total,
            "total_counts_mt": mt,
            "pct_counts_mt": 100 * mt / np.maximum(total, 1),
            "batch": pd.Categorical([f"Donor {d} {e}" for _, _, d, e in rows]),
            "cell_type0528": pd.Categorical([t for t, _, _, _ in rows]),
        }
    )
    barcodes = [f"{''.join(rng.choice(list('ACGT'), 16))}-1" for _ in rows]
    barcodes[1] = barcodes[0]  # the deposit has duplicated cell names
    obs.index = pd.Index(barcodes)
    var = pd.DataFrame(index=["MT-CO1", "MT-ND1"] + [f"GENE{i}" for i in range(2, n_genes)])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*names are not unique")
        adata = AnnData(sparse.csr_matrix(counts), obs=obs, var=var)
        path.parent.mkdir(parents=True, exist_ok=True)
        adata.write_h5ad(path)
    return path


def write_parse_file(
    path: Path, cells_per_group: int = 4, n_genes: int = 30, seed: int = 0
) -> Path:
    """Write a Parse-schema file: 3 donors x 4 cytokines (PBS the control) x 3 cell types."""
    rng = np.random.default_rng(seed)
    rows = [
        (donor, cytokine, cell_type)
        for donor in ("Donor1", "Donor2", "Donor10")
        for cytokine in PARSE_CYTOKINES
        for cell_type in PARSE_CELL_TYPES
        for _ in range(cells_per_group)
    ]
    base = rng.gamma(2.0, 1.5, size=(len(PARSE_CELL_TYPES), n_genes))
    effect = rng.gamma(1.0, 2.0, size=(len(PARSE_CYTOKINES), n_genes))
    effect[0] = 0.0
    rates = np.stack(
        [base[PARSE_CELL_TYPES.index(t)] + effect[PARSE_CYTOKINES.index(c)] for _, c, t in rows]
    )
    counts = _counts(rng, rates)
    n = len(rows)
    total = counts.sum(1)
    obs = pd.DataFrame(
        {
            "bc1_well": [f"{i % 96}" for i in range(n)],
            "bc1_wind": rng.integers(1, 96, n),
            "bc2_well": [f"{(i // 96) % 96}" for i in range(n)],
            "bc2_wind": rng.integers(1, 96, n),
            "bc3_well": [f"{(i // 9216) % 96}" for i in range(n)],
            "bc3_wind": rng.integers(1, 96, n),
            "cell_type": pd.Categorical([t for _, _, t in rows]),
            "cytokine": pd.Categorical([c for _, c, _ in rows]),
            "donor": pd.Categorical([d for d, _, _ in rows]),
            "gene_count": (counts > 0).sum(1),
            "log1p_n_genes_by_counts": np.log1p((counts > 0).sum(1)),
            "log1p_total_counts": np.log1p(total),
            "log1p_total_counts_MT": np.log1p(counts[:, 0]),
            "mread_count": total * 3,
            "pct_counts_MT": 100 * counts[:, 0] / np.maximum(total, 1),
            "sample": pd.Categorical([f"{d}_{c}" for d, c, _ in rows]),
            "species": pd.Categorical(["human"] * n),
            "total_counts_MT": counts[:, 0],
            "treatment": pd.Categorical(["PBS" if c == "PBS" else "cytokine" for _, c, _ in rows]),
            "tscp_count": total,
        }
    )
    obs.index = pd.Index([f"{i % 97}_{i % 89}_{i:03d}__s{1 + i % 8}" for i in range(n)])
    var = pd.DataFrame({"n_cells": (counts > 0).sum(0)}, index=[f"G{i}" for i in range(n_genes)])
    adata = AnnData(sparse.csr_matrix(counts, dtype=np.float32), obs=obs, var=var)
    path.parent.mkdir(parents=True, exist_ok=True)
    adata.write_h5ad(path)
    return path
