"""The default training budget, in cell visits."""

from __future__ import annotations

import math

#: Cell visits (target cells seen, counting repeats) of a default training run.
DEFAULT_CELL_VISITS = 150_000


def default_max_epochs(
    n_cells: int,
    cell_visits: int = DEFAULT_CELL_VISITS,
    min_epochs: int = 1,
    max_epochs: int = 1000,
) -> int:
    """Epochs that visit about ``cell_visits`` training cells.

    Parameters
    ----------
    n_cells
        Training cells per epoch.
    cell_visits
        Cells to visit in all.
    min_epochs, max_epochs
        Bounds of the result.
    """
    if n_cells < 1:
        raise ValueError(f"n_cells must be positive, got {n_cells}.")
    return int(min(max(math.ceil(cell_visits / n_cells), min_epochs), max_epochs))
