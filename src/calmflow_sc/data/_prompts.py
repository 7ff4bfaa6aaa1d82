"""Text prompts that describe a cell's condition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

COMBINATION_SEPARATOR = "+"


def render_perturbation(perturbation: str, control_value: str) -> str:
    """Phrase a perturbation for a prompt; combinations ``A+B`` read ``A and B``."""
    if perturbation == control_value:
        return "no perturbation"
    parts = [part.strip() for part in str(perturbation).split(COMBINATION_SEPARATOR)]
    parts = [part for part in parts if part and part != control_value]
    if not parts:
        return "no perturbation"
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@dataclass(frozen=True)
class PromptBuilder:
    """Build the prompt of each cell from its perturbation, cell type and covariates.

    The prompt reads, for instance,
    ``"Generate a CD4T cell (donor: 101) under IFNB and TNF: "``.

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
    """

    perturbation_key: str
    control_value: str
    cell_type_key: str | None = None
    covariate_keys: tuple[str, ...] = ()

    @property
    def keys(self) -> list[str]:
        """Every column a prompt reads, the perturbation first."""
        keys = [self.perturbation_key]
        if self.cell_type_key is not None:
            keys.append(self.cell_type_key)
        return keys + list(self.covariate_keys)

    def render(
        self, perturbation: str, cell_type: str | None = None, covariates: Sequence[str] = ()
    ) -> str:
        """Render one prompt."""
        subject = f"a {cell_type} cell" if cell_type is not None else "a cell"
        described = ", ".join(
            f"{key}: {value}" for key, value in zip(self.covariate_keys, covariates, strict=True)
        )
        if described:
            subject += f" ({described})"
        treatment = render_perturbation(str(perturbation), self.control_value)
        return f"Generate {subject} under {treatment}: "

    def render_frame(self, conditions: pd.DataFrame) -> list[str]:
        """Render the prompt of every row of a frame holding the prompt's columns."""
        missing = [key for key in self.keys if key not in conditions.columns]
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
        return [
            self.render(perturbation, cell_type, covs)
            for perturbation, cell_type, covs in zip(
                conditions[self.perturbation_key].astype(str), cell_types, covariates, strict=True
            )
        ]
