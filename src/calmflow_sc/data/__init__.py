"""From AnnData to training examples: prompts, representation, pairing, paths and packing."""

from __future__ import annotations

from ._collection import read_collection
from ._condition_space import ConditionSpace, RegisteredConditions
from ._condition_splits import CINEMAOT_HELDOUT, cinemaot_splits, heldout_condition_splits
from ._condition_table import MAX_CONDITIONS, condition_table, context_radix
from ._conditions import ConditionEncoder
from ._control_pool import ControlPool, bounded_per_context
from ._coupling import Coupling
from ._doses import (
    canonical_dose_levels,
    check_dose_column,
    component_doses,
    distinct_treatments,
    dose_of_components,
    format_dose,
    format_doses,
    parse_doses,
)
from ._labels import (
    COMBINATION_SEPARATOR,
    canonical_label,
    component_key,
    has_empty_component,
    is_combination,
    join_components,
    label_parts,
    perturbation_components,
)
from ._loader import SequenceDataset, SequenceDataSplitter, sequence_loader
from ._packing import pack_trajectories
from ._pairing import optimal_transport_pairing, pair_within_groups
from ._paths import sample_paths, time_grid
from ._prompts import PromptBuilder, check_descriptions, render_perturbation
from ._representation import PCARepresentation, iterate_dense_rows, rows_per_block
from ._sequences import SequenceBuilder
from ._splits import (
    Split,
    heldout_cell_type_splits,
    heldout_combination_splits,
    heldout_component_splits,
)
from ._validation import (
    MIN_TRAINING_CELLS,
    align_query_genes,
    check_control_value,
    check_obs_column,
    check_perturbation_labels,
    check_setup,
    warn_empty_categories,
)

__all__ = [
    "CINEMAOT_HELDOUT",
    "COMBINATION_SEPARATOR",
    "MAX_CONDITIONS",
    "MIN_TRAINING_CELLS",
    "ConditionEncoder",
    "ConditionSpace",
    "ControlPool",
    "Coupling",
    "PCARepresentation",
    "PromptBuilder",
    "RegisteredConditions",
    "SequenceBuilder",
    "SequenceDataSplitter",
    "SequenceDataset",
    "Split",
    "align_query_genes",
    "bounded_per_context",
    "canonical_dose_levels",
    "canonical_label",
    "check_control_value",
    "check_descriptions",
    "check_dose_column",
    "check_obs_column",
    "check_perturbation_labels",
    "check_setup",
    "cinemaot_splits",
    "component_doses",
    "component_key",
    "condition_table",
    "context_radix",
    "distinct_treatments",
    "dose_of_components",
    "format_dose",
    "format_doses",
    "has_empty_component",
    "heldout_cell_type_splits",
    "heldout_combination_splits",
    "heldout_component_splits",
    "heldout_condition_splits",
    "is_combination",
    "iterate_dense_rows",
    "join_components",
    "label_parts",
    "optimal_transport_pairing",
    "pack_trajectories",
    "pair_within_groups",
    "parse_doses",
    "perturbation_components",
    "read_collection",
    "render_perturbation",
    "rows_per_block",
    "sample_paths",
    "sequence_loader",
    "time_grid",
    "warn_empty_categories",
]
