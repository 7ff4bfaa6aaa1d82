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
) -> pd.DataFrame:
    """Every registered (perturbation, cell type, covariates) combination, one row each.

    Rows are ordered perturbation-major, then by the mixed-radix context index of cell type
    and covariates, so that row ``perturbation * n_contexts + context`` is a cell's condition.

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

    Returns
    -------
    A frame with the columns ``builder.keys``.
    """
    context_levels = [cell_types if cell_types is not None else [None], *covariates]
    n_rows = len(perturbations)
    for levels in context_levels:
        n_rows *= len(levels)
    if n_rows > MAX_PROMPT_TABLE_ROWS:
        raise ValueError(
            f"The registered keys span {n_rows:,} (perturbation, cell type, covariates) "
            "combinations. Register fewer covariates or merge rare categories."
        )
    rows = [
        (perturbation, *context)
        for perturbation in perturbations
        for context in itertools.product(*context_levels)
    ]
    columns = [builder.perturbation_key, "__cell_type__", *builder.covariate_keys]
    frame = pd.DataFrame(rows, columns=columns)
    if builder.cell_type_key is not None:
        return frame.rename(columns={"__cell_type__": builder.cell_type_key})
    return frame.drop(columns="__cell_type__")
