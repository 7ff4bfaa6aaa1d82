"""Training: the schedule, best-weight restoring, the budget, held-out-condition validation."""

from __future__ import annotations

from ._budget import default_cell_visits, default_max_epochs
from ._callbacks import InterruptionRecorder, RestoreBestWeights, TrainingCheckpoint
from ._heldout_conditions import HELDOUT_KINDS, HeldOutConditions, choose_heldout_conditions
from ._heldout_score import HELDOUT_MONITOR, HeldOutConditionScore
from ._quiet import LIBRARY_LOGGERS, LIBRARY_WARNINGS, EpochProgressBar, quiet_libraries
from ._training_plan import CaLMFlowTrainingPlan, NonFiniteLossError, warmup_cosine

__all__ = [
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
    "choose_heldout_conditions",
    "default_cell_visits",
    "default_max_epochs",
    "quiet_libraries",
    "warmup_cosine",
]
