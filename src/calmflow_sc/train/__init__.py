"""Training: the schedule, best-weight restoring, the budget, held-out-condition validation."""

from __future__ import annotations

from ._budget import budget_summary, default_cell_visits, default_max_epochs
from ._callbacks import InterruptionRecorder, RestoreBestWeights, TrainingCheckpoint
from ._heldout_conditions import HELDOUT_KINDS, HeldOutConditions, choose_heldout_conditions
from ._heldout_score import HELDOUT_MONITOR, HeldOutConditionScore
from ._quiet import LIBRARY_LOGGERS, LIBRARY_WARNINGS, EpochProgressBar, quiet_libraries
from ._threads import FEW_CORES, default_num_threads, resolve_num_threads, torch_threads
from ._training_plan import CaLMFlowTrainingPlan, NonFiniteLossError, warmup_cosine

__all__ = [
    "FEW_CORES",
    "HELDOUT_KINDS",
    "HELDOUT_MONITOR",
    "LIBRARY_LOGGERS",
    "LIBRARY_WARNINGS",
    "CaLMFlowTrainingPlan",
    "EpochProgressBar",
    "HeldOutConditionScore",
    "HeldOutConditions",
    "InterruptionRecorder",
    "NonFiniteLossError",
    "RestoreBestWeights",
    "TrainingCheckpoint",
    "budget_summary",
    "choose_heldout_conditions",
    "default_cell_visits",
    "default_max_epochs",
    "default_num_threads",
    "quiet_libraries",
    "resolve_num_threads",
    "torch_threads",
    "warmup_cosine",
]
