"""Every training condition, ordered like the module's prompt lookup."""

from __future__ import annotations

import itertools

import pandas as pd

from ..data import PromptBuilder

MAX_PROMPT_TABLE_ROWS = 500_000


def condition_table(
    builder: PromptBuilder,
    perturbations: list[str],
    cell_types: list[str] | None,
    covariates: list[list[str]],
    doses: list[str] | None = None,
) -> pd.DataFrame:
    """Every registered (perturbation, dose, cell type, covariates) combination, one row each.

    Rows are ordered perturbation-major, then by dose, then by the mixed-radix context index
    of cell type and covariates, so that row ``treatment * n_contexts + context`` is a cell's
    condition, where ``treatment`` is ``perturbation * n_doses + dose`` (``perturbation``
    without doses). Some rows pair a perturbation with a dose no cell has (a dose for two
    components with a single); they are placeholders.

    Parameters
    ----------
    builder
        Names the columns.
    perturbations
        Registered perturbation categories.
    cell_types
        Registered cell-type categories, or ``None`` without cell types.
    covariates
        Registered categories of each covariate.
    doses
        Registered doses, or ``None`` without a dose column.

    Returns
    -------
    A frame with the columns ``builder.condition_keys``.
    """
    context_levels = [cell_types if cell_types is not None else [None], *covariates]
    treatments = [(p, d) for p in perturbations for d in (doses if doses is not None else [None])]
    n_rows = len(treatments)
    for levels in context_levels:
        n_rows *= len(levels)
    if n_rows > MAX_PROMPT_TABLE_ROWS:
        raise ValueError(
            f"The registered keys span {n_rows:,} (perturbation, dose, cell type, covariates) "
            "combinations. Register fewer covariates or merge rare categories."
        )
    rows = [
        (perturbation, *context, dose)
        for perturbation, dose in treatments
        for context in itertools.product(*context_levels)
    ]
    columns = [builder.perturbation_key, "__cell_type__", *builder.covariate_keys, "__dose__"]
    frame = pd.DataFrame(rows, columns=columns)
    if builder.dose_key is not None:
        frame = frame.rename(columns={"__dose__": builder.dose_key})
    else:
        frame = frame.drop(columns="__dose__")
    if builder.cell_type_key is not None:
        return frame.rename(columns={"__cell_type__": builder.cell_type_key})
    return frame.drop(columns="__cell_type__")
