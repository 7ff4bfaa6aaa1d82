"""Choosing the conditions a training run holds out to validate on, of the kinds users ask for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import is_combination, perturbation_components

#: Kinds of held-out condition, in the order they are chosen: a component with every
#: condition that holds it (a perturbation never measured), a combination whose singles are
#: measured in its context (a pair never seen), a perturbation measured in other contexts
#: (a new cell type or covariate group).
HELDOUT_KINDS = ("component", "combination", "context")
#: Conditions with fewer perturbed cells are not held out (their score would be noise).
MIN_HELDOUT_CELLS = 20
#: Measured singles needed before one component is held out with its conditions.
MIN_SINGLES_FOR_COMPONENT = 5


@dataclass(frozen=True)
class HeldOutConditions:
    """Registered conditions held out of training and predicted to validate it.

    Parameters
    ----------
    rows
        Rows of the condition table held out (every cell of these is left out of training).
    scored
        The rows whose predictions are scored, one per entry of ``kinds``: a held-out
        component's conditions are all left out, the single alone is scored.
    kinds
        The kind of each scored row (:data:`HELDOUT_KINDS`).
    counts
        Perturbed cells of every row of the condition table (``None``: not known).
    """

    rows: np.ndarray
    scored: np.ndarray
    kinds: tuple[str, ...]
    counts: np.ndarray | None = None

    def frame(self, table: pd.DataFrame) -> pd.DataFrame:
        """The scored conditions as a frame: their columns, ``kind`` and ``n_cells``."""
        frame = table.loc[self.scored].astype(str).reset_index(drop=True)
        frame["kind"] = list(self.kinds)
        frame["n_cells"] = -1 if self.counts is None else self.counts[self.scored]
        return frame


def choose_heldout_conditions(
    table: pd.DataFrame,
    counts: np.ndarray,
    perturbation_key: str,
    control_value: str,
    n_contexts: int,
    seed: int = 0,
    fraction: float = 0.1,
    max_per_kind: int = 4,
) -> HeldOutConditions | None:
    """Hold out about ``fraction`` of the measured conditions of each kind the data allows.

    Parameters
    ----------
    table
        The condition table (:meth:`~calmflow_sc.data.ConditionSpace.table`); row ``r`` is
        treatment ``r // n_contexts`` in context ``r % n_contexts``.
    counts
        Perturbed cells of each row.
    perturbation_key, control_value
        The perturbation column and its control label.
    n_contexts
        Contexts (cell type and covariate groups) of the table.
    seed
        Seed of the choice.
    fraction
        Share of the candidates of each kind to hold out (at least one, at most
        ``max_per_kind``).
    max_per_kind
        Most conditions (components, for that kind) held out of each kind.

    Returns
    -------
    The held-out conditions, or ``None`` where no condition can be held out (a single
    measured perturbation in a single context, or too few cells).
    """
    rng = np.random.default_rng(seed)
    labels = table[perturbation_key].astype(str).to_numpy()
    rows = np.arange(len(table))
    contexts, treatments = rows % n_contexts, rows // n_contexts
    measured = (counts >= MIN_HELDOUT_CELLS) & (labels != control_value)
    held = np.zeros(len(table), dtype=bool)
    scored: list[int] = []
    kinds: list[str] = []

    def how_many(n_candidates: int) -> int:
        return int(min(max(1, round(fraction * n_candidates)), max_per_kind, n_candidates))

    def singles_measured(row: int) -> bool:
        return all(
            np.any(measured & ~held & (labels == part) & (contexts == contexts[row]))
            for part in perturbation_components(labels[row], control_value)
        )

    singles = np.flatnonzero(measured & ~np.array([is_combination(x) for x in labels]))
    components = sorted({labels[r] for r in singles})
    if len(components) >= MIN_SINGLES_FOR_COMPONENT + 1:
        chosen = rng.permutation(components)[: how_many(len(components))]
        for component in chosen:
            holding = np.array(
                [component in perturbation_components(x, control_value) for x in labels]
            )
            held |= holding
            for row in np.flatnonzero(holding & measured & (labels == component)):
                scored.append(int(row))
                kinds.append("component")
    pairs = [
        r
        for r in np.flatnonzero(measured & ~held)
        if is_combination(labels[r]) and singles_measured(r)
    ]
    for row in rng.permutation(pairs)[: how_many(len(pairs))] if pairs else []:
        if singles_measured(row):
            held[row] = True
            scored.append(int(row))
            kinds.append("combination")
    if n_contexts > 1:
        others = [
            r
            for r in np.flatnonzero(measured & ~held)
            if np.sum(measured & ~held & (treatments == treatments[r])) > 1
        ]
        for row in rng.permutation(others)[: how_many(len(others))] if others else []:
            if np.sum(measured & ~held & (treatments == treatments[row])) > 1:
                held[row] = True
                scored.append(int(row))
                kinds.append("context")
    if not scored:
        return None
    return HeldOutConditions(np.flatnonzero(held), np.asarray(scored), tuple(kinds), counts)
