"""Names a user may have meant: close matches for a mistyped column, layer, value or name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Least similarity (:class:`difflib.SequenceMatcher` ratio) of a name suggested for a typo.
CLOSE_MATCH_CUTOFF = 0.6
#: Suggestions are at most this much less similar than the closest one.
CLOSE_MATCH_MARGIN = 0.1


def close_matches(
    name: object, choices: Iterable[object], n: int = 3, cutoff: float = CLOSE_MATCH_CUTOFF
) -> list[str]:
    """The choices spelled like ``name``, closest first; never ``name`` itself.

    Matches ignore case (``"non-targeting"`` finds ``"Non-targeting"``) and allow typos
    (``"IFGNR2"`` finds ``"IFNGR2"``): :func:`difflib.get_close_matches` with ``cutoff``,
    keeping those within ``CLOSE_MATCH_MARGIN`` of the closest.

    Parameters
    ----------
    name
        What the user wrote.
    choices
        What exists.
    n
        At most this many matches.
    cutoff
        Least similarity of a match.
    """
    spellings: dict[str, list[str]] = {}
    for choice in dict.fromkeys(map(str, choices)):
        spellings.setdefault(choice.casefold(), []).append(choice)
    word = str(name).casefold()
    best = difflib.get_close_matches(word, list(spellings), n=1, cutoff=cutoff)
    if not best:
        return []
    closest = difflib.SequenceMatcher(None, best[0], word).ratio()
    folded = difflib.get_close_matches(
        word, list(spellings), n=n + 1, cutoff=max(cutoff, closest - CLOSE_MATCH_MARGIN)
    )
    return [choice for key in folded for choice in spellings[key] if choice != str(name)][:n]


def did_you_mean(name: object, choices: Iterable[object], n: int = 3) -> str:
    """``" Did you mean 'IFNGR2'?"`` when ``choices`` hold close matches of ``name``, else ``""``.

    Parameters
    ----------
    name
        What the user wrote.
    choices
        What exists.
    n
        At most this many suggestions.
    """
    matches = close_matches(name, choices, n=n)
    return f" Did you mean {' or '.join(map(repr, matches))}?" if matches else ""


def show_values(values: Iterable[object], most: int = 10) -> str:
    """``"'a', 'b' and 12 more"``: the first ``most`` values of a list, and how many are left."""
    values = list(values)
    shown = ", ".join(map(repr, values[:most]))
    return shown + (f" and {len(values) - most} more" if len(values) > most else "")
