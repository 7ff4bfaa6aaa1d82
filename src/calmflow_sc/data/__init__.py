"""From AnnData to training examples: prompts, representation, pairing, paths and packing."""

from __future__ import annotations

from ._conditions import ConditionEncoder
from ._packing import pack_trajectories
from ._pairing import optimal_transport_pairing, pair_within_groups
from ._paths import sample_paths, time_grid
from ._prompts import COMBINATION_SEPARATOR, PromptBuilder, render_perturbation
from ._representation import PCARepresentation, iterate_dense_rows
from ._splits import Split, heldout_cell_type_splits, heldout_combination_splits

__all__ = [
    "COMBINATION_SEPARATOR",
    "ConditionEncoder",
    "PCARepresentation",
    "PromptBuilder",
    "Split",
    "heldout_cell_type_splits",
    "heldout_combination_splits",
    "iterate_dense_rows",
    "optimal_transport_pairing",
    "pack_trajectories",
    "pair_within_groups",
    "render_perturbation",
    "sample_paths",
    "time_grid",
]
