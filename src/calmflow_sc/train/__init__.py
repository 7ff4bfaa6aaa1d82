"""Training: the learning-rate schedule, best-weight restoring and the default budget."""

from __future__ import annotations

from ._budget import default_cell_visits, default_max_epochs
from ._callbacks import InterruptionRecorder, RestoreBestWeights, TrainingCheckpoint
from ._quiet import LIBRARY_LOGGERS, LIBRARY_WARNINGS, EpochProgressBar, quiet_libraries
from ._training_plan import CaLMFlowTrainingPlan, NonFiniteLossError, warmup_cosine

__all__ = [
    "LIBRARY_LOGGERS",
    "LIBRARY_WARNINGS",
    "CaLMFlowTrainingPlan",
    "EpochProgressBar",
    "InterruptionRecorder",
    "NonFiniteLossError",
    "RestoreBestWeights",
    "TrainingCheckpoint",
    "default_cell_visits",
    "default_max_epochs",
    "quiet_libraries",
    "warmup_cosine",
]
