"""Gene embeddings from the Gene Ontology."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ._symbols import annotated_symbols
from ._tables import go_embedding_table


def gene_embeddings(genes: Iterable[str] | None = None, *, strict: bool = False) -> pd.DataFrame:
    """GO embeddings of human protein-coding genes.

    Each gene's propagated GO annotations (biological process, molecular function, cellular
    component) form a row of a gene x term matrix weighted by TF-IDF, so that broad terms and
    genes with many terms do not dominate; a truncated SVD reduces it to 64 dimensions and
    every row has unit length (cosine similarity is a dot product). Built offline from
    Bioconductor's ``org.Hs.eg.db`` and ``GO.db``; see :doc:`/knowledge`.

    Parameters
    ----------
    genes
        Gene names (symbols or aliases); ``None`` for every gene.
    strict
        Raise :class:`~calmflow_sc.knowledge.UnknownGeneError` for a name without an
        embedding instead of warning.

    Returns
    -------
    A ``float32`` frame indexed by official symbol, one column per dimension, in the order
    of ``genes``. Names without an embedding are left out and named in a :class:`UserWarning`.

    Examples
    --------
    >>> import calmflow_sc as cfs
    >>> emb = cfs.knowledge.gene_embeddings(["MAP2K3", "MAP2K6"])
    >>> emb.shape
    (2, 64)
    """
    table = go_embedding_table()
    if genes is None:
        return table.copy()
    found = annotated_symbols(genes, table.index, "embedding", strict)
    symbols = list(dict.fromkeys(found.values()))
    return table.loc[symbols].copy()
