"""The scvi-tools module: training loss and autoregressive rollout."""

from __future__ import annotations

from ._layout import SequenceLayout
from ._module import CaLMFlowModule
from ._prior import VARIANT_WEIGHTS, refresh_prior_inputs
from ._rollout import next_state, rollout
from ._sequences import sequence_hidden, whole_sequence_hidden

__all__ = [
    "VARIANT_WEIGHTS",
    "CaLMFlowModule",
    "SequenceLayout",
    "next_state",
    "refresh_prior_inputs",
    "rollout",
    "sequence_hidden",
    "whole_sequence_hidden",
]
