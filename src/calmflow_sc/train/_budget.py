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
