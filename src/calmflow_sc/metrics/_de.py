"""Overlap of the differentially expressed genes of a prediction and of the observation."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from anndata import AnnData

if TYPE_CHECKING:
    from ._array import Matrix

#: A predicted DE gene counts in :func:`de_overlap` only below this adjusted p-value.
DE_MAX_PVALUE = 0.05


def de_genes(
    perturbed: Matrix,
    control: Matrix,
    k: int,
    var_names: pd.Index | None = None,
    method: str = "wilcoxon",
    max_pvalue: float | None = None,
) -> np.ndarray:
    """Top ``k`` genes of perturbed vs control cells by scanpy's ``rank_genes_groups``.

    Genes are ranked by the test's score for the perturbed group (both directions of change
    count: the ranking uses the absolute score).

    Parameters
    ----------
    perturbed, control
        Cells by genes, log-normalised, with the same genes.
    k
        Number of genes.
    var_names
        Gene names; positions ``0 .. n_genes - 1`` when ``None``.
    method
        Test of :func:`scanpy.tl.rank_genes_groups` (``"wilcoxon"``, ``"t-test"`` ...).
    max_pvalue
        Keep only genes whose Benjamini-Hochberg adjusted p-value is below this (fewer than
        ``k`` genes may come back); ``None`` keeps the top ``k`` whatever their p-values.

    Returns
    -------
    At most ``k`` gene names (or positions as str), most significant first.
    """
    import scanpy as sc
    from scipy import sparse

    blocks = [perturbed, control]
    if any(sparse.issparse(b) for b in blocks):
        x = sparse.csr_matrix(sparse.vstack([sparse.csr_matrix(b) for b in blocks]))
    else:
        x = np.vstack([np.asarray(b) for b in blocks])
    n_perturbed = perturbed.shape[0]
    names = var_names if var_names is not None else pd.Index(map(str, range(x.shape[1])))
    k = operator.index(k)
    if not 1 <= k <= len(names):
        raise ValueError(f"`k` must be between 1 and the number of genes ({len(names)}), got {k}.")
    groups = np.where(np.arange(x.shape[0]) < n_perturbed, "perturbed", "control")
    adata = AnnData(
        x.astype(np.float32),
        obs=pd.DataFrame({"group": pd.Categorical(groups)}, index=map(str, range(x.shape[0]))),
        var=pd.DataFrame(index=pd.Index(names).astype(str)),
    )
    sc.tl.rank_genes_groups(
        adata, "group", groups=["perturbed"], reference="control", method=method, n_genes=None
    )
    table = sc.get.rank_genes_groups_df(adata, group="perturbed")
    order = np.argsort(-np.abs(table["scores"].to_numpy()), kind="stable")
    if max_pvalue is not None:
        order = order[table["pvals_adj"].to_numpy()[order] < max_pvalue]
    return table["names"].to_numpy()[order[:k]].astype(str)


def detected_genes(real: Matrix, control: Matrix, min_fraction: float = 0.05) -> np.ndarray:
    """Genes detected (non-zero) in at least ``min_fraction`` of the observed cells.

    Parameters
    ----------
    real, control
        Observed perturbed and control cells (cells by genes).
    min_fraction
        Smallest fraction of the observed cells, perturbed and control together, in which a
        gene must be non-zero.

    Returns
    -------
    Boolean mask over genes.
    """
    from scipy import sparse

    counts = np.zeros(real.shape[1])
    for block in (real, control):
        nonzero = block != 0
        counts += (
            np.asarray(nonzero.sum(axis=0)).ravel() if sparse.issparse(block) else nonzero.sum(0)
        )
    return counts >= min_fraction * (real.shape[0] + control.shape[0])


def de_overlap(
    pred: Matrix,
    real: Matrix,
    control: Matrix,
    k: int = 50,
    method: str = "wilcoxon",
    min_fraction: float = 0.05,
) -> float:
    """Fraction of the observed top-``k`` DE genes that the prediction also ranks in its top ``k``.

    Both rankings come from :func:`de_genes` against the same control cells (the predicted
    cells vs control, the observed perturbed cells vs control), keeping on both sides only
    genes whose change is significant (adjusted p-value below ``DE_MAX_PVALUE``): a
    prediction of no change, whose ranking is noise, scores 0, and an observation with fewer
    than ``k`` significant genes is matched on those. Both use the same genes: those
    detected in at least ``min_fraction`` of the observed cells (:func:`detected_genes`). The
    gene set does not depend on the prediction. Without it, genes that are zero in every
    observed cell dominate a prediction's ranking as soon as it shifts them by any constant
    (zero variance on both sides), which happens to every additive model.

    Parameters
    ----------
    pred, real, control
        Predicted perturbed, observed perturbed and control cells (cells by genes).
    k
        Number of top genes.
    method
        Test of :func:`scanpy.tl.rank_genes_groups`.
    min_fraction
        Detection threshold of the compared genes; 0 compares all genes.

    Returns
    -------
    ``|top_k(pred) & top_k(real)| / |top_k(real)|``, between 0 and 1; NaN when no observed
    change is significant.
    """
    return de_overlaps(pred, real, control, [k], method, min_fraction)[k]


def de_overlaps(
    pred: Matrix,
    real: Matrix,
    control: Matrix,
    ks: list[int],
    method: str = "wilcoxon",
    min_fraction: float = 0.05,
) -> dict[int, float]:
    """:func:`de_overlap` for several ``k`` at once (each test is run once)."""
    from scipy import sparse

    genes = np.flatnonzero(detected_genes(real, control, min_fraction))

    def columns(x: Matrix) -> Matrix:
        return sparse.csr_matrix(x)[:, genes] if sparse.issparse(x) else np.asarray(x)[:, genes]

    n_genes = len(genes)
    for k in ks:
        if not 1 <= k <= n_genes:
            raise ValueError(
                f"`k` must be between 1 and the number of compared genes ({n_genes}), got {k}."
            )
    predicted = de_genes(
        columns(pred), columns(control), n_genes, method=method, max_pvalue=DE_MAX_PVALUE
    )
    observed = de_genes(
        columns(real), columns(control), n_genes, method=method, max_pvalue=DE_MAX_PVALUE
    )
    return {
        k: len(set(predicted[:k]) & set(observed[:k])) / len(observed[:k])
        if len(observed)
        else np.nan
        for k in ks
    }
