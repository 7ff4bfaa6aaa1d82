"""The table of every registered condition, and the mixed-radix index of its contexts."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._prompts import PromptBuilder

#: The most registered conditions a model builds prompt inputs for.
MAX_CONDITIONS = 500_000


def context_radix(sizes: Sequence[int]) -> np.ndarray:
    """Place values of the mixed-radix context index (the last key varies fastest).

    A context with codes ``(c_0, ..., c_k)`` (cell type, then each covariate) has the index
    ``sum_i c_i * radix_i``.
    """
    return np.cumprod([1, *[int(size) for size in sizes][::-1]])[:-1][::-1].copy()


def condition_table(
    builder: PromptBuilder,
    perturbations: Sequence[str],
    cell_types: Sequence[str] | None,
    covariates: Sequence[Sequence[str]],
    doses: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Every registered (perturbation, dose, cell type, covariates) combination, one row each.

    Rows are ordered perturbation-major, then by dose, then by the mixed-radix context index
    of cell type and covariates (:func:`context_radix`), so that row
    ``treatment * n_contexts + context`` is a cell's condition, where ``treatment`` is
    ``perturbation * n_doses + dose`` (``perturbation`` without doses). Some rows pair a
    perturbation with a dose no cell has (a dose for two components with a single); they
    are placeholders.

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

    Raises
    ------
    ValueError
        If there are more than ``MAX_CONDITIONS`` rows.
    """
    context_levels = [cell_types if cell_types is not None else [None], *covariates]
    treatments = [(p, d) for p in perturbations for d in (doses if doses is not None else [None])]
    n_rows = len(treatments)
    for levels in context_levels:
        n_rows *= len(levels)
    if n_rows > MAX_CONDITIONS:
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
