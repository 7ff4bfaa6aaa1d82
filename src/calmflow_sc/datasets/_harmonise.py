"""Shared steps of the loaders of public perturbation atlases: columns, labels, counts."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._expression import value_summary
from ..data import COMBINATION_SEPARATOR, join_components, label_parts

__all__ = [
    "CONTROL",
    "first_column",
    "harmonised_perturbations",
    "log_normalize_counts",
    "looks_like_counts",
    "select_values",
]

CONTROL = "control"


def first_column(obs: pd.DataFrame, candidates: Sequence[str], what: str, source: str) -> str:
    """The first of ``candidates`` that is a column of ``obs``.

    Raises
    ------
    KeyError
        If none is, naming the candidates and the columns found.
    """
    for name in candidates:
        if name in obs.columns:
            return name
    raise KeyError(
        f"The file has no {what} column: expected one of {list(candidates)} in obs, found "
        f"{list(obs.columns)}. Is it {source}?"
    )


def harmonised_perturbations(
    labels: pd.Series, control_labels: Iterable[str], separator: str = COMBINATION_SEPARATOR
) -> pd.Categorical:
    """Source perturbation labels in the package's convention.

    The control becomes ``"control"``; the components of a combination, written with
    ``separator`` and any spaces (``"IFNb + IFNg"``), are joined by ``"+"`` (``"IFNb+IFNg"``).
    """
    controls = {str(c).strip() for c in control_labels}
    mapping = {}
    for label in pd.unique(labels.astype(str)):
        if label.strip() in controls:
            mapping[label] = CONTROL
            continue
        parts = [part for part in label_parts(label, separator) if part]
        mapping[label] = join_components(parts)
    values = labels.astype(str).map(mapping)
    categories = [CONTROL, *sorted(set(values) - {CONTROL})]
    return pd.Categorical(values, categories=[c for c in categories if c in set(values)])


def select_values(
    column: pd.Series, wanted: Sequence[str] | str | None, argument: str
) -> np.ndarray:
    """A mask of the cells whose value of ``column`` is one of ``wanted`` (all for ``None``).

    Raises
    ------
    ValueError
        If a wanted value is absent, naming the values present.
    """
    if wanted is None:
        return np.ones(len(column), dtype=bool)
    wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
    present = set(column.astype(str))
    missing = [w for w in wanted if w not in present]
    if missing:
        raise ValueError(f"{argument}={missing} not found; the file has {sorted(present)[:100]}.")
    return column.astype(str).isin(wanted).to_numpy(copy=True)


def looks_like_counts(matrix: np.ndarray | sparse.spmatrix) -> bool:
    """Whether a matrix holds raw counts: non-negative, its first stored values whole, some above 1.

    Read with the summary of expression values behind the model's raw-count warning
    (``calmflow_sc._expression.value_summary``), a block of rows at a time.
    """
    stats = value_summary(matrix, "X")
    return stats.first_integral and stats.minimum >= 0 and stats.first_max > 1


def log_normalize_counts(adata: AnnData, target_sum: float = 1e4) -> bool:
    """Move raw counts of ``X`` to ``layers["counts"]`` and log-normalise ``X``, in place.

    Each cell is scaled to ``target_sum`` counts, then ``log1p`` is applied (scanpy's
    ``normalize_total`` and ``log1p``). Data that are not counts are left as they are.

    Returns
    -------
    Whether ``X`` held counts (and was normalised).
    """
    if not looks_like_counts(adata.X):
        return False
    import scanpy as sc

    counts = adata.X.copy()
    if sparse.issparse(counts):
        counts = sparse.csr_matrix(counts, dtype=np.float32)
    adata.layers["counts"] = counts
    adata.X = counts.astype(np.float32, copy=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sc.pp.normalize_total(adata, target_sum=target_sum)
        sc.pp.log1p(adata)
    adata.uns["calmflow_sc_normalization"] = {"target_sum": float(target_sum), "log1p": True}
    return True
