"""Gene names to official symbols: aliases, and names nobody knows."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Container, Iterable
from functools import cache

from ._tables import alias_table, known_symbols


class UnknownGeneError(ValueError):
    """A gene or perturbation name the shipped knowledge does not know."""


@cache
def _upper_index() -> dict[str, str]:
    index = {alias.upper(): symbol for alias, symbol in alias_table().items()}
    index.update({symbol.upper(): symbol for symbol in known_symbols()})
    return index


def _suggestions(name: str) -> list[str]:
    upper = _upper_index()
    close = difflib.get_close_matches(name.upper(), list(upper), n=6, cutoff=0.8)
    return list(dict.fromkeys(upper[key] for key in close if key != name.upper()))[:3]


def report_unknown(
    names: Iterable[str], what: str, strict: bool, stacklevel: int = 3, suggest: bool = True
) -> None:
    """Warn about (or, with ``strict``, refuse) the names in ``names``.

    With ``suggest``, each name comes with close matches among the known symbols (for names
    that are not symbols; a known gene that merely lacks an annotation gets none).
    """
    names = list(dict.fromkeys(names))
    if not names:
        return
    parts = []
    for name in names[:20]:
        close = _suggestions(name) if suggest else []
        parts.append(f"{name!r} (did you mean {' or '.join(close)}?)" if close else repr(name))
    more = f" and {len(names) - 20} more" if len(names) > 20 else ""
    count = f"{len(names)} name" + ("s" if len(names) > 1 else "")
    message = f"{what} ({count}): {', '.join(parts)}{more}."
    if strict:
        raise UnknownGeneError(message)
    warnings.warn(message, UserWarning, stacklevel=stacklevel)


def lookup_symbols(names: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Official symbol of each name that has one, and the names that have none.

    A name is looked up as a symbol, then as an alias, in its own letter case only (``"ctrl"``
    is no ``CTRL``); the warning about an unknown name suggests close matches.
    """
    symbols, aliases = known_symbols(), alias_table()
    found: dict[str, str] = {}
    unknown: list[str] = []
    for name in dict.fromkeys(str(n).strip() for n in names):
        if name in symbols:
            found[name] = name
        elif name in aliases.index:
            found[name] = str(aliases[name])
        else:
            unknown.append(name)
    return found, unknown


def resolve_symbols(names: Iterable[str], *, strict: bool = False) -> dict[str, str]:
    """Map gene names (symbols or aliases) to official HGNC symbols.

    Parameters
    ----------
    names
        Gene names, e.g. ``["MAP2K3", "MKK6"]``. Letter case counts: ``"ctrl"`` is not the
        gene ``CTRL``; close matches of unknown names are suggested.
    strict
        Raise :class:`UnknownGeneError` for unknown names instead of warning.

    Returns
    -------
    The official symbol of every name that has one (``{"MEK6": "MAP2K6", ...}``). Names
    without one are left out and named, with close matches, in a :class:`UserWarning`.

    Examples
    --------
    >>> import calmflow_sc as cfs
    >>> cfs.knowledge.resolve_symbols(["MAP2K3", "MKK6"])
    {'MAP2K3': 'MAP2K3', 'MKK6': 'MAP2K6'}
    """
    found, unknown = lookup_symbols(names)
    report_unknown(unknown, "Not a known human gene symbol or alias", strict)
    return found


def annotated_symbols(
    genes: Iterable[str], annotated: Container[str], what: str, strict: bool
) -> dict[str, str]:
    """The official symbol of each name whose gene is in ``annotated``, in the order given.

    Names that are no known symbol or alias, and known genes outside ``annotated`` (``what``
    they lack, e.g. ``"embedding"``), are named in a warning (an error with ``strict``).
    """
    found, unknown = lookup_symbols(genes)
    missing = [name for name, symbol in found.items() if symbol not in annotated]
    report_unknown(unknown, "Not a known human gene symbol or alias", strict, stacklevel=4)
    report_unknown(missing, f"No GO annotation, so no {what}", strict, stacklevel=4, suggest=False)
    return {name: symbol for name, symbol in found.items() if symbol in annotated}
