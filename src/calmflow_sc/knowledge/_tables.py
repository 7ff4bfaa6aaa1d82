"""The tables shipped in ``calmflow_sc/knowledge/data``, read once and cached."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"


@cache
def manifest() -> dict:
    """The build manifest: every file's SHA-256 and shape, the sources and their licences."""
    return json.loads((DATA_DIR / "manifest.json").read_text())


@cache
def go_embedding_table() -> pd.DataFrame:
    """The GO embeddings of every annotated protein-coding gene, indexed by symbol."""
    with np.load(DATA_DIR / "go_embeddings.npz", allow_pickle=False) as arrays:
        values = arrays["values"].astype(np.float32)
        symbols = arrays["symbols"].astype(str)
    columns = [f"go_{i}" for i in range(values.shape[1])]
    return pd.DataFrame(values, index=pd.Index(symbols, name="symbol"), columns=columns)


@cache
def description_table() -> pd.Series:
    """The long description of every annotated protein-coding gene, indexed by symbol."""
    table = pd.read_csv(DATA_DIR / "gene_descriptions.csv.gz", keep_default_na=False)
    return table.set_index("symbol")["description"]


@cache
def alias_table() -> pd.Series:
    """Official symbol by alias (aliases that name exactly one protein-coding gene)."""
    table = pd.read_csv(DATA_DIR / "aliases.csv.gz", keep_default_na=False)
    return table.set_index("alias")["symbol"]


@cache
def family_table() -> pd.DataFrame:
    """FamPlex families and complexes of genes: columns ``gene``, ``family``, ``relation``."""
    return pd.read_csv(DATA_DIR / "families.csv.gz", keep_default_na=False)


@cache
def known_symbols() -> frozenset[str]:
    """Every official symbol any shipped table knows."""
    return frozenset(
        [*go_embedding_table().index, *alias_table().to_numpy(), *family_table()["gene"]]
    )
