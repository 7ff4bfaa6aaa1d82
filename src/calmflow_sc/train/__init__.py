"""Training: the learning-rate schedule, best-weight restoring and the default budget."""

from __future__ import annotations

from ._budget import default_cell_visits, default_max_epochs
from ._callbacks import InterruptionRecorder, RestoreBestWeights
from ._training_plan import CaLMFlowTrainingPlan, NonFiniteLossError, warmup_cosine

__all__ = [
    "CaLMFlowTrainingPlan",
    "InterruptionRecorder",
    "NonFiniteLossError",
    "RestoreBestWeights",
    "default_cell_visits",
    "default_max_epochs",
    "warmup_cosine",
]
