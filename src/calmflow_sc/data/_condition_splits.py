"""Held-out conditions: given combinations of perturbation, cell type and covariates.

The split of the CaLMFlow paper on the CINEMA-OT cytokine data is one such set.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
from anndata import AnnData

from .._docs import doc
from ._splits import Split, _column, _controls

__all__ = ["CINEMAOT_HELDOUT", "cinemaot_splits", "heldout_condition_splits"]

# The CaLMFlow authors' held-out (cell type, perturbation, chronicity) combinations on the
# CINEMA-OT data: for each cell type in this order, two perturbations taken in turn from the
# list below, the first held out under chronic and the second under acute exposure.
_CINEMAOT_CELL_TYPES = ("Plasma", "NK", "CD4 T", "Dendritic", "Monocyte", "CD8 T", "B")
_CINEMAOT_PERTURBATIONS = (
    "IL-6",
    "IFNa2",
    "IFNb+IFNg",
    "IFNb+IL-6",
    "IFNg",
    "TNFa",
    "IFNb",
    "IFN-III",
    "IFNb+TNFa",
)


def _cinemaot_heldout() -> tuple[dict[str, str], ...]:
    combinations, index = [], 0
    n = len(_CINEMAOT_PERTURBATIONS)
    for cell_type in _CINEMAOT_CELL_TYPES:
        for offset, chronicity in enumerate(("chronic", "acute")):
            combinations.append(
                {
                    "cell_type": cell_type,
                    "perturbation": _CINEMAOT_PERTURBATIONS[(index + offset) % n],
                    "chronicity": chronicity,
                }
            )
        index = (index + 2) % n
    return tuple(combinations)


CINEMAOT_HELDOUT: tuple[dict[str, str], ...] = _cinemaot_heldout()
"""The paper's 14 held-out (cell type, perturbation, chronicity) conditions of CINEMA-OT."""


@doc.dedent
def heldout_condition_splits(
    adata: AnnData,
    conditions: Sequence[Mapping[str, str]],
    perturbation_key: str = "perturbation",
    control_value: str = "control",
    context_keys: Sequence[str] = ("cell_type",),
) -> list[Split]:
    """Hold out given conditions together: one training set, one split per condition.

    A condition names a perturbation and a value of each context column, e.g.
    ``{"perturbation": "IFNb", "cell_type": "NK", "chronicity": "acute"}``. The cells of every
    condition leave the training set at once (so one model serves all the splits, whose
    ``train`` is the same); each split's query is the control cells of its context, to predict
    its cells from. The perturbation and each context value stay seen elsewhere in training,
    which is checked.

    Parameters
    ----------
    adata
        Perturbation data.
    conditions
        The conditions to hold out, each a mapping with ``perturbation_key`` (or
        ``"perturbation"``) and every key of ``context_keys``.
    %(param_perturbation_key)s
    %(param_control_value)s
    context_keys
        Columns whose values, with the perturbation, define a condition (cell type,
        chronicity, donor ...).

    Returns
    -------
    One :class:`Split` per condition with cells, named ``"<perturbation> | <value> | ..."``
    (context values in the order of ``context_keys``), in the order given. Conditions without
    cells are left out with a warning.

    Raises
    ------
    ValueError
        If a condition lacks a key, no condition has cells, a held-out condition has no control
        cells to predict from, or a held-out value is never seen in training.
    """
    perturbation = _column(adata, perturbation_key)
    is_control = _controls(perturbation, str(control_value))
    context = {key: _column(adata, key) for key in context_keys}
    tests, names, kept = [], [], []
    for condition in conditions:
        wanted = dict(condition)
        if perturbation_key not in wanted and "perturbation" in wanted:
            wanted[perturbation_key] = wanted.pop("perturbation")
        missing = [k for k in (perturbation_key, *context_keys) if k not in wanted]
        if missing:
            raise ValueError(f"Condition {dict(condition)} lacks {missing}.")
        cells = perturbation == str(wanted[perturbation_key])
        for key in context_keys:
            cells &= context[key] == str(wanted[key])
        name = " | ".join([str(wanted[perturbation_key])] + [str(wanted[k]) for k in context_keys])
        if not cells.any():
            warnings.warn(f"Held-out condition {name} has no cells; left out.", stacklevel=2)
            continue
        tests.append(cells)
        names.append(name)
        kept.append(wanted)
    if not tests:
        raise ValueError("None of the held-out conditions has cells in adata.")
    removed = np.logical_or.reduce(tests)
    train = ~removed
    for key, values in [(perturbation_key, perturbation), *context.items()]:
        unseen = sorted({str(w[key]) for w in kept} - set(values[train]))
        if unseen:
            raise ValueError(
                f"Holding these conditions out leaves {key} value(s) {unseen} with no training "
                "cells; hold out fewer conditions so that each value stays seen."
            )
    splits = []
    for wanted, cells, name in zip(kept, tests, names, strict=True):
        query = is_control.copy()
        for key in context_keys:
            query &= context[key] == str(wanted[key])
        if not query.any():
            raise ValueError(f"Held-out condition {name} has no control cells in its context.")
        splits.append(
            Split(
                name=name,
                train=np.flatnonzero(train),
                test=np.flatnonzero(cells),
                query=np.flatnonzero(query),
                perturbations=(str(wanted[perturbation_key]),),
            )
        )
    return splits


def cinemaot_splits(
    adata: AnnData,
    perturbation_key: str = "perturbation",
    control_value: str = "control",
    cell_type_key: str = "cell_type",
    chronicity_key: str = "chronicity",
) -> list[Split]:
    """The CaLMFlow paper's split of the CINEMA-OT data: 14 unseen cell type x cytokine x chronicity.

    The conditions of :data:`CINEMAOT_HELDOUT` (two per cell type, one chronic and one acute)
    leave training together; every cell type, cytokine and chronicity stays seen. Each split
    predicts one condition from the control cells of its cell type and chronicity. Read the
    data with :func:`calmflow_sc.datasets.dong2023_cinemaot`, whose columns are the defaults.

    Parameters
    ----------
    adata
        The CINEMA-OT data, perturbations labelled as by
        :func:`~calmflow_sc.datasets.dong2023_cinemaot` (pairs joined by ``"+"``).
    perturbation_key, control_value, cell_type_key, chronicity_key
        Its columns and control value.

    Returns
    -------
    One :class:`Split` per held-out condition with cells (see
    :func:`heldout_condition_splits`), all with the same training cells: train once.
    """
    conditions = [
        {
            perturbation_key: c["perturbation"],
            cell_type_key: c["cell_type"],
            chronicity_key: c["chronicity"],
        }
        for c in CINEMAOT_HELDOUT
    ]
    return heldout_condition_splits(
        adata, conditions, perturbation_key, control_value, (cell_type_key, chronicity_key)
    )
