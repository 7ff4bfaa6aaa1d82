"""Long gene descriptions for sentence encoders."""

from __future__ import annotations

from collections.abc import Iterable

from ._symbols import annotated_symbols
from ._tables import description_table


def gene_descriptions(
    genes: Iterable[str] | None = None, *, strict: bool = False
) -> dict[str, str]:
    """Descriptions of human protein-coding genes: full name and most specific GO terms.

    A description reads ``"SYMBOL (full name). Processes: ... Functions: ... Location: ..."``,
    with the gene's directly annotated GO terms of highest information content (up to 10
    biological processes, 3 molecular functions and 2 cellular components). They are written
    for a sentence encoder, e.g. ``CaLMFlowPerturb(..., perturbation_descriptions=...)``.

    Parameters
    ----------
    genes
        Gene names (symbols or aliases); ``None`` for every gene.
    strict
        Raise :class:`~calmflow_sc.knowledge.UnknownGeneError` for a name without a
        description instead of warning.

    Returns
    -------
    The description of each name that has one, keyed by the name as given. Names without one
    are left out and named in a :class:`UserWarning`.
    """
    table = description_table()
    if genes is None:
        return table.to_dict()
    found = annotated_symbols(genes, table.index, "description", strict)
    return {name: str(table[symbol]) for name, symbol in found.items()}
