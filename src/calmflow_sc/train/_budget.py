"""The default training budget, in cell visits that grow with the data."""

from __future__ import annotations

import math

#: Cell visits of a default run on 1,000 training cells; the budget grows as the square root
#: of the number of cells.
CELL_VISITS_PER_1000 = 75_000


def default_cell_visits(n_cells: int) -> int:
    """Cells to visit (counting repeats) when training on ``n_cells`` cells.

    ``75,000 * sqrt(n_cells / 1,000)``: small data sets are seen many times (about 86 epochs of
    770 cells), large ones a few times (about 3 epochs of a million cells), so that the number
    of optimisation steps grows with the data, but more slowly.
    """
    if n_cells < 1:
        raise ValueError(f"n_cells must be positive, got {n_cells}.")
    return round(CELL_VISITS_PER_1000 * math.sqrt(n_cells / 1_000))


def default_max_epochs(
    n_cells: int,
    cell_visits: int | None = None,
    min_epochs: int = 1,
    max_epochs: int = 1000,
) -> int:
    """Epochs that visit about ``cell_visits`` training cells.

    Parameters
    ----------
    n_cells
        Training cells per epoch.
    cell_visits
        Cells to visit in all; ``None`` uses :func:`default_cell_visits`.
    min_epochs, max_epochs
        Bounds of the result.
    """
    if n_cells < 1:
        raise ValueError(f"n_cells must be positive, got {n_cells}.")
    if cell_visits is None:
        cell_visits = default_cell_visits(n_cells)
    return int(min(max(math.ceil(cell_visits / n_cells), min_epochs), max_epochs))


def budget_summary(
    n_train: int,
    n_validation: int,
    max_epochs: int,
    batch_size: int,
    default_budget: bool,
    validation: str,
    max_time: object | None,
    num_threads: int,
) -> str:
    """The one line that says, at the start of training, how much will run and why.

    Parameters
    ----------
    n_train, n_validation
        Cells the flows lead to in training and held out for validation.
    max_epochs
        Epochs at most.
    batch_size
        Cells per step.
    default_budget
        ``max_epochs`` came from :func:`default_max_epochs` (not the caller).
    validation
        What decides early stopping (``"cells"`` or ``"conditions"``), or ``"none"``.
    max_time
        The wall-time limit, if any.
    num_threads
        Torch's CPU threads.
    """
    steps = max(1, math.ceil(n_train / batch_size))
    rule = (
        f"the default budget of {default_cell_visits(n_train):,} cell visits (75,000 x "
        f"sqrt(cells / 1,000); calmflow_sc.train.default_cell_visits)"
        if default_budget
        else "max_epochs as given"
    )
    stopping = {
        "cells": "earlier if the held-out cells' loss stops improving",
        "conditions": "earlier if the held-out conditions' predictions stop improving",
    }.get(validation, "no early stopping")
    limit = f", or after max_time={max_time!r}" if max_time is not None else ""
    return (
        f"Training on {n_train:,} cells ({n_validation:,} held out for validation): up to "
        f"{_count(max_epochs, 'epoch')} x {_count(steps, 'step')} of {batch_size} cells = "
        f"{_count(max_epochs * steps, 'step')}, from {rule}; {stopping}{limit}. "
        f"{_count(num_threads, 'CPU thread')} (train(num_threads=...) to change)."
    )


def _count(number: int, noun: str) -> str:
    """``"1 step"``, ``"1,162 steps"``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
