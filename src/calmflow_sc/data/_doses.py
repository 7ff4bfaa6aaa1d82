"""Doses of perturbation components: parsing, checking and spelling."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ._labels import COMBINATION_SEPARATOR, join_components, label_parts, perturbation_components


def format_dose(value: float) -> str:
    """One spelling of a dose (``10.0`` and ``10`` are ``"10"``)."""
    return f"{float(value):g}"


def format_doses(doses: Sequence[float]) -> str:
    """One spelling of the doses of components, joined like them (``"1+0.5"``)."""
    return join_components(format_dose(dose) for dose in doses)


def parse_doses(value: object) -> tuple[float, ...]:
    """The numbers of a dose value: a number, or numbers joined by ``"+"``.

    Raises
    ------
    ValueError
        If a part is not a finite number of at least zero.
    """
    if isinstance(value, str):
        parts = label_parts(value)
    elif isinstance(value, Sequence):
        parts = list(value)
    else:
        parts = [value]
    doses = []
    for part in parts:
        try:
            number = float(part)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or number < 0:
            raise ValueError(
                f"Dose {value!r} is not a finite number of at least zero (or such numbers "
                "joined by '+', one per component of a combination)."
            )
        doses.append(number)
    return tuple(doses)


def component_doses(components: Sequence[str], value: object, strict: bool = True) -> list[float]:
    """The dose of each component: one number for all of them, or one per component.

    Parameters
    ----------
    components
        The components of a perturbation, in the order it names them.
    value
        A number (every component gets it), or ``"d1+d2"`` with one number per component.
    strict
        Raise on a count that does not match; otherwise such a value gives zeros (the
        placeholder rows of a table of every registered perturbation x dose).

    Raises
    ------
    ValueError
        If ``value`` is not a dose, or (``strict``) has neither one number nor one per
        component.
    """
    doses = parse_doses(value)
    if not components:  # the control: nothing to scale
        return []
    if len(doses) == 1:
        return [doses[0]] * len(components)
    if len(doses) == len(components):
        return list(doses)
    if not strict:
        return [0.0] * len(components)
    raise ValueError(
        f"Dose {value!r} has {len(doses)} numbers for the {len(components)} component(s) "
        f"{list(components)}: give one number for all, or one per component joined by '+'."
    )


def dose_of_components(
    components: Sequence[str], dose: object | Mapping[str, object]
) -> dict[str, float]:
    """Map each component to its dose; ``dose`` may already map component to dose.

    Raises
    ------
    ValueError
        If a mapping misses a component, or a dose is not valid.
    """
    if isinstance(dose, Mapping):
        missing = [name for name in components if name not in dose]
        if missing:
            raise ValueError(
                f"dose names no dose for component(s) {missing}; give one for each of "
                f"{list(components)}."
            )
        return {name: parse_doses(dose[name])[0] for name in components}
    return dict(zip(components, component_doses(components, dose), strict=True))


def check_dose_column(
    doses: pd.Series,
    perturbations: pd.Series,
    control_value: str,
    place: str,
    delimiter: str = COMBINATION_SEPARATOR,
) -> None:
    """Check a dose column: every perturbed cell has a valid dose for its components.

    Control cells need a number too (any: they have no component to scale), so that the
    column has no missing values.

    Raises
    ------
    ValueError
        Naming the first bad values and the fix.
    """
    if doses.isna().any():
        raise ValueError(
            f"{place}[{doses.name!r}] has {int(doses.isna().sum())} missing dose(s); give every "
            "cell a dose (e.g. 0 for the control cells) and try again."
        )
    pairs = pd.DataFrame({"p": perturbations.astype(str), "d": doses.astype(str)})
    for perturbation, dose in pairs.drop_duplicates().itertuples(index=False, name=None):
        parts = perturbation_components(perturbation, control_value, delimiter)
        try:
            component_doses(parts, dose) if parts else parse_doses(dose)
        except ValueError as err:
            raise ValueError(
                f"{place}[{doses.name!r}] is not a dose for perturbation {perturbation!r}: {err}"
            ) from None


def distinct_treatments(
    perturbations: Sequence[object], doses: Sequence[object] | None = None
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """The distinct (perturbation, dose) pairs of rows, and each row's index among them.

    Without ``doses`` every row has dose ``"1"`` (its components unscaled).
    """
    perturbations = [str(p) for p in perturbations]
    doses = ["1"] * len(perturbations) if doses is None else [str(d) for d in doses]
    index: dict[tuple[str, str], int] = {}
    rows = [index.setdefault(pair, len(index)) for pair in zip(perturbations, doses, strict=True)]
    return list(index), np.asarray(rows, dtype=np.int64)


def canonical_dose_levels(mapping: Sequence[object]) -> list[str]:
    """The registered dose categories, each spelled by :func:`format_dose` per number."""
    return [
        format_doses(parse_doses(value)) for value in np.asarray(mapping, dtype=object).tolist()
    ]
