"""Gene families and protein complexes (FamPlex)."""

from __future__ import annotations

from collections.abc import Iterable

from ._symbols import lookup_symbols, report_unknown
from ._tables import family_table


def families(genes: Iterable[str], *, strict: bool = False) -> dict[str, list[str]]:
    """FamPlex families and complexes each gene belongs to.

    A gene belongs to the families it is a member (``isa``) or a part (``partof``) of, and to
    the families that contain those (``AKT1`` -> ``AKT``; ``MAP2K3`` -> ``MAP2K``).

    Parameters
    ----------
    genes
        Gene names (symbols or aliases).
    strict
        Raise :class:`~calmflow_sc.knowledge.UnknownGeneError` for unknown names instead of
        warning.

    Returns
    -------
    The sorted FamPlex identifiers of every known name, keyed by the name as given (an empty
    list for a gene in no family).
    """
    table = family_table()
    by_gene = table.groupby("gene")["family"].apply(sorted).to_dict()
    found, unknown = lookup_symbols(genes)
    report_unknown(unknown, "Not a known human gene symbol or alias", strict)
    return {name: list(by_gene.get(symbol, [])) for name, symbol in found.items()}


def family_members(family: str) -> list[str]:
    """The genes of a FamPlex family or complex (``"MAP2K"`` -> ``["MAP2K1", ...]``)."""
    table = family_table()
    return sorted(table.loc[table["family"] == family, "gene"].unique())
