"""From AnnData to training examples: prompts, representation, pairing, paths and packing."""

from __future__ import annotations

from ._components import COMBINATION_SEPARATOR
from ._condition_splits import CINEMAOT_HELDOUT, cinemaot_splits, heldout_condition_splits
from ._conditions import ConditionEncoder
from ._control_pool import ControlPool
from ._coupling import Coupling
from ._doses import check_dose_column, component_doses, format_dose, parse_doses
from ._loader import SequenceDataset, SequenceDataSplitter, sequence_loader
from ._packing import pack_trajectories
from ._pairing import optimal_transport_pairing, pair_within_groups
from ._paths import sample_paths, time_grid
from ._prompts import PromptBuilder, render_perturbation
from ._representation import PCARepresentation, iterate_dense_rows
from ._sequences import SequenceBuilder
from ._splits import (
    Split,
    heldout_cell_type_splits,
    heldout_combination_splits,
    heldout_component_splits,
)

__all__ = [
    "CINEMAOT_HELDOUT",
    "COMBINATION_SEPARATOR",
    "ConditionEncoder",
    "ControlPool",
    "Coupling",
    "PCARepresentation",
    "PromptBuilder",
    "SequenceBuilder",
    "SequenceDataSplitter",
    "SequenceDataset",
    "Split",
    "check_dose_column",
    "cinemaot_splits",
    "component_doses",
    "format_dose",
    "heldout_cell_type_splits",
    "heldout_combination_splits",
    "heldout_component_splits",
    "heldout_condition_splits",
    "iterate_dense_rows",
    "optimal_transport_pairing",
    "pack_trajectories",
    "pair_within_groups",
    "parse_doses",
    "render_perturbation",
    "sample_paths",
    "sequence_loader",
    "time_grid",
]
