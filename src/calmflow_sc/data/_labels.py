"""The grammar of perturbation labels: ``"A+B"`` names the components ``A`` and ``B``.

Every module that reads or writes a combination label asks this one: how a label splits
into components (stripped of spaces), which spelling a combination gets, and which labels
are malformed. Doses of a combination follow the same grammar (``"1+0.5"``, one number per
component, :mod:`calmflow_sc.data._doses`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: The separator of the components of a combination label (and of their doses).
COMBINATION_SEPARATOR = "+"


def label_parts(label: object, separator: str = COMBINATION_SEPARATOR) -> list[str]:
    """Every part of a label, stripped of spaces, in the order it names them.

    Empty parts (``"A+"``) and the control value are kept; see
    :func:`perturbation_components` for the components alone.
    """
    return [part.strip() for part in str(label).split(separator)]


def is_combination(label: object, separator: str = COMBINATION_SEPARATOR) -> bool:
    """Whether a label is written as a combination (it holds the separator)."""
    return separator in str(label)


def has_empty_component(label: object, separator: str = COMBINATION_SEPARATOR) -> bool:
    """Whether a label has an empty part (``""``, ``"A+"``, ``"A++B"``, ``" "``)."""
    return any(not part for part in label_parts(label, separator))


def perturbation_components(
    perturbation: object, control_value: str, delimiter: str = COMBINATION_SEPARATOR
) -> list[str]:
    """The single perturbations of a label, in the order it names them (none for the control).

    Parts are stripped; empty parts and the control value are dropped.
    """
    parts = label_parts(perturbation, delimiter)
    return [part for part in parts if part and part != str(control_value)]


def component_key(label: object, separator: str = COMBINATION_SEPARATOR) -> tuple[str, ...]:
    """The sorted parts of a label: one key for every spelling of a combination.

    ``"TNF+IFNB"``, ``"IFNB+TNF"`` and ``"IFNB + TNF"`` give ``("IFNB", "TNF")``.
    """
    return tuple(sorted(label_parts(label, separator)))


def join_components(parts: Iterable[str], separator: str = COMBINATION_SEPARATOR) -> str:
    """The label of components, in the given order (``["A", "B"]`` -> ``"A+B"``)."""
    return separator.join(parts)


def canonical_label(label: str, registered: Sequence[str]) -> str:
    """The spelling of a perturbation that a model with ``registered`` labels reads.

    A registered label is itself; a combination written in another order (``"IFNB+TNF"`` for
    the registered ``"TNF+IFNB"``) gets the registered spelling; a combination never
    registered gets its stripped components in sorted order, so that ``"A+B"`` and ``"B+A"``
    are one label.
    """
    if label in registered:
        return label
    key = component_key(label)
    same = [known for known in registered if component_key(known) == key]
    if same:
        return same[0]
    return join_components(key)
