"""Perturbation components represented by what is known of their genes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._families import family_members
from ._symbols import lookup_symbols, report_unknown
from ._tables import go_embedding_table


def _mean_direction(table: pd.DataFrame, genes: Iterable[str]) -> np.ndarray | None:
    rows = [g for g in dict.fromkeys(genes) if g in table.index]
    if not rows:
        return None
    mean = table.loc[rows].to_numpy(dtype=np.float64).mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def perturbation_embeddings(
    perturbations: Iterable[str],
    *,
    receptors: Mapping[str, Sequence[str]] | None = None,
    strict: bool = False,
) -> pd.DataFrame:
    """Embeddings of perturbation components from their genes' GO embeddings.

    A component is represented, in this order of preference, by

    1. the mean embedding of its receptor genes, where ``receptors`` names the component as a
       ligand (a cytokine acts through its receptors: ``IFNB1`` -> ``IFNAR1``, ``IFNAR2``);
    2. its gene's embedding (:func:`~calmflow_sc.knowledge.gene_embeddings`; aliases
       resolved);
    3. the mean embedding of a FamPlex family's or complex's genes, where the name is a
       FamPlex identifier (``"MAP2K"``, ``"IFNAR"``).

    Means are scaled back to unit length. The frame's ``attrs["source"]`` records which of
    ``"receptors"``, ``"gene"`` or ``"family"`` each row came from.

    Parameters
    ----------
    perturbations
        Component names (one gene or ligand each; a combination's components one by one).
    receptors
        Receptor genes by ligand symbol, e.g. :func:`~calmflow_sc.knowledge.ligand_receptors`
        or a hand-written ``{"IFNG": ["IFNGR1", "IFNGR2"]}``.
    strict
        Raise :class:`~calmflow_sc.knowledge.UnknownGeneError` for a name that cannot be
        represented instead of warning.

    Returns
    -------
    A ``float32`` frame indexed by the names as given, ready for
    ``CaLMFlowPerturb(..., perturbation_embeddings=...)``. Names that cannot be represented
    are left out and named in a :class:`UserWarning`.

    Examples
    --------
    >>> import calmflow_sc as cfs
    >>> emb = cfs.knowledge.perturbation_embeddings(
    ...     ["MAP2K3", "IFNB1"], receptors={"IFNB1": ["IFNAR1", "IFNAR2"]}
    ... )
    >>> emb.attrs["source"]
    {'MAP2K3': 'gene', 'IFNB1': 'receptors'}
    """
    table = go_embedding_table()
    names = list(dict.fromkeys(str(p).strip() for p in perturbations))
    found, _ = lookup_symbols(names)
    receptors = {} if receptors is None else receptors
    vectors: dict[str, np.ndarray] = {}
    source: dict[str, str] = {}
    for name in names:
        symbol = found.get(name, name)
        genes = receptors.get(symbol, receptors.get(name))
        vector = None
        if genes:
            vector = _mean_direction(table, lookup_symbols(genes)[0].values())
            source[name] = "receptors"
        if vector is None and symbol in table.index:
            vector = table.loc[symbol].to_numpy(dtype=np.float64)
            source[name] = "gene"
        if vector is None:
            vector = _mean_direction(table, family_members(name))
            source[name] = "family"
        if vector is None:
            source.pop(name)
            continue
        vectors[name] = vector
    unknown = [name for name in names if name not in vectors]
    report_unknown(unknown, "Not a known gene, ligand or FamPlex family", strict)
    values = np.array(list(vectors.values()), dtype=np.float32).reshape(-1, table.shape[1])
    frame = pd.DataFrame(values, index=pd.Index(list(vectors)), columns=table.columns.copy())
    frame.attrs["source"] = source
    return frame
