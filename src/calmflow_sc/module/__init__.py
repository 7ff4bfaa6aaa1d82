"""The scvi-tools module: training loss and autoregressive rollout."""

from __future__ import annotations

from ._layout import SequenceLayout
from ._module import CaLMFlowModule

__all__ = ["CaLMFlowModule", "SequenceLayout"]
