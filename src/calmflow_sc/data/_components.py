"""The components of a perturbation label (``"A+B"``)."""

from __future__ import annotations

COMBINATION_SEPARATOR = "+"


def perturbation_components(
    perturbation: object, control_value: str, delimiter: str = COMBINATION_SEPARATOR
) -> list[str]:
    """The single perturbations of a label, in the order it names them (none for the control).

    Parts are stripped; empty parts and the control value are dropped.
    """
    parts = [part.strip() for part in str(perturbation).split(delimiter)]
    return [part for part in parts if part and part != str(control_value)]
