"""Text prompts that describe a cell's condition."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ._doses import component_doses, format_dose
from ._labels import perturbation_components


def render_perturbation(
    perturbation: str,
    control_value: str,
    descriptions: Mapping[str, str] | None = None,
    doses: Sequence[float] | None = None,
) -> str:
    """Phrase a perturbation for a prompt.

    Combinations ``A+B`` read ``A and B``; with ``descriptions``, each described component
    is followed by its description in brackets: ``IFNb (interferon beta, a type I
    interferon)``; with ``doses`` (one per component), by its dose: ``IFNb at dose 10``.

    Parameters
    ----------
    perturbation
        The perturbation, components joined by ``"+"``.
    control_value
        The value of unperturbed cells, rendered ``no perturbation``.
    descriptions
        Optional free text for single perturbations.
    doses
        Optional dose of each component, in the order of ``perturbation``.

    Returns
    -------
    The phrase.
    """
    parts = perturbation_components(perturbation, control_value)
    if not parts:
        return "no perturbation"
    phrases = list(parts)
    if descriptions:
        phrases = [
            f"{part} ({descriptions[part]})" if part in descriptions else part for part in parts
        ]
    if doses is not None:
        phrases = [
            f"{phrase} at dose {format_dose(dose)}"
            for phrase, dose in zip(phrases, doses, strict=True)
        ]
    if len(phrases) == 1:
        return phrases[0]
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def check_descriptions(descriptions: Mapping[str, str]) -> dict[str, str]:
    """Check free-text component descriptions; return them with stripped names."""
    if not isinstance(descriptions, Mapping):
        raise TypeError(
            "perturbation_descriptions must map component names to text, got "
            f"{type(descriptions).__name__}."
        )
    bad = [k for k, v in descriptions.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ValueError(f"perturbation_descriptions must map to non-empty text; check {bad[:5]}.")
    return {str(k).strip(): v for k, v in descriptions.items()}


def _cell_phrase(cell_type: str | None) -> str:
    if cell_type is None:
        return "a cell"
    name = str(cell_type)
    if name.lower().endswith(" cells"):  # "B cells" -> "a B cell"
        return f"a {name[:-1]}"
    if name.lower().endswith("cell"):
        return f"a {name}"
    return f"a {name} cell"


@dataclass(frozen=True)
class PromptBuilder:
    """Build the prompt of each cell from its perturbation, cell type and covariates.

    The default prompt reads, for instance,
    ``"Generate a CD4T cell (donor: 101) under IFNB and TNF: "``. A ``template`` replaces it:
    a string whose ``{key}`` placeholders name registered ``obs`` columns, e.g.
    ``"A {cell_type} cell from donor {donor}, treated with {condition}: "``. The perturbation's
    placeholder is rendered readably (``"IFNb and IFNg"``, with ``descriptions`` if given);
    every other placeholder is the cell's value.

    Parameters
    ----------
    perturbation_key
        Column holding the perturbation.
    control_value
        Value of the perturbation column for unperturbed cells.
    cell_type_key
        Column holding the cell type, if any.
    covariate_keys
        Further columns that enter the prompt (donor, dose, ...).
    template
        Optional prompt template with ``{key}`` placeholders; it must name the perturbation.
    dose_key
        Column holding each cell's dose (a number, or one per component joined by ``"+"``);
        the perturbation's phrase then names each component's dose.
    descriptions
        Optional free text per single perturbation, e.g.
        ``{"IFNb": "interferon beta, a type I interferon"}``.

    Raises
    ------
    ValueError
        If the template names a placeholder that is not a registered key, has an empty
        placeholder, or does not name the perturbation.
    """

    perturbation_key: str
    control_value: str
    cell_type_key: str | None = None
    covariate_keys: tuple[str, ...] = ()
    template: str | None = None
    descriptions: Mapping[str, str] | None = field(default=None, hash=False)
    dose_key: str | None = None

    def __post_init__(self) -> None:
        if self.descriptions is not None:
            check_descriptions(self.descriptions)
        if self.template is None:
            return
        if not isinstance(self.template, str):
            raise TypeError(
                f"prompt_template must be a string, got {type(self.template).__name__}."
            )
        try:
            fields = [
                name
                for _, name, _, _ in string.Formatter().parse(self.template)
                if name is not None
            ]
        except ValueError as err:
            raise ValueError(f"prompt_template {self.template!r} is malformed: {err}.") from err
        if "" in fields or any(name.isdigit() for name in fields):
            raise ValueError(
                f"prompt_template {self.template!r} has an unnamed placeholder; name a "
                f"registered key in each, from {self.keys}."
            )
        unknown = sorted({name for name in fields if name not in self.keys})
        if unknown:
            raise ValueError(
                f"prompt_template placeholders {unknown} are not registered keys. Use any of "
                f"{['{' + key + '}' for key in self.keys]} (doses are named in the "
                "perturbation's phrase), or register the column with "
                "setup_anndata(covariate_keys=...)."
            )
        if self.perturbation_key not in fields:
            raise ValueError(
                f"prompt_template must contain {{{self.perturbation_key}}}: without the "
                "perturbation every condition would get the same prompt."
            )

    @property
    def keys(self) -> list[str]:
        """Every column a prompt reads, the perturbation first."""
        keys = [self.perturbation_key]
        if self.cell_type_key is not None:
            keys.append(self.cell_type_key)
        return keys + list(self.covariate_keys)

    @property
    def condition_keys(self) -> list[str]:
        """Every column that tells one condition from another: :attr:`keys` and the dose."""
        return self.keys + ([self.dose_key] if self.dose_key is not None else [])

    def components(self, perturbation: str) -> list[str]:
        """The components of a perturbation, in the order it names them."""
        return perturbation_components(perturbation, self.control_value)

    def render(
        self,
        perturbation: str,
        cell_type: str | None = None,
        covariates: Sequence[str] = (),
        treatment: str | None = None,
        dose: object | None = None,
    ) -> str:
        """Render one prompt; ``treatment`` replaces the perturbation's phrase.

        ``dose`` (models with a ``dose_key``) is a number for every component, or one per
        component joined by ``"+"``.
        """
        if treatment is None:
            doses = None
            if dose is not None:
                doses = component_doses(self.components(perturbation), dose)
            treatment = render_perturbation(
                str(perturbation), self.control_value, self.descriptions, doses
            )
        if self.template is not None:
            values = {self.perturbation_key: treatment}
            if self.cell_type_key is not None:
                values[self.cell_type_key] = str(cell_type)
            values.update(zip(self.covariate_keys, map(str, covariates), strict=True))
            return self.template.format(**values)
        subject = _cell_phrase(cell_type)
        described = ", ".join(
            f"{key}: {value}" for key, value in zip(self.covariate_keys, covariates, strict=True)
        )
        if described:
            subject += f" ({described})"
        return f"Generate {subject} under {treatment}: "

    def render_frame(self, conditions: pd.DataFrame, treatment: str | None = None) -> list[str]:
        """Render the prompt of every row of a frame holding the prompt's columns.

        ``treatment`` replaces every row's perturbation phrase (the context-only prompt of
        component codes, which carry the perturbation themselves).
        """
        missing = [key for key in self.condition_keys if key not in conditions.columns]
        if missing:
            raise KeyError(
                f"Columns {missing} are needed to build prompts but are missing; "
                f"available columns: {list(conditions.columns)}."
            )
        cell_types = (
            conditions[self.cell_type_key].astype(str).tolist()
            if self.cell_type_key is not None
            else [None] * len(conditions)
        )
        covariates = (
            conditions[list(self.covariate_keys)].astype(str).itertuples(index=False, name=None)
            if self.covariate_keys
            else [()] * len(conditions)
        )
        doses = (
            conditions[self.dose_key].tolist()
            if self.dose_key is not None and treatment is None
            else [None] * len(conditions)
        )
        return [
            self.render(perturbation, cell_type, covs, treatment, dose)
            for perturbation, cell_type, covs, dose in zip(
                conditions[self.perturbation_key].astype(str),
                cell_types,
                covariates,
                doses,
                strict=True,
            )
        ]
