"""Simple perturbation-response baselines with the same interface as the main model."""

from __future__ import annotations

from ._base import Baseline
from ._control import ControlBaseline
from ._mean_shift import MeanShiftBaseline

__all__ = ["Baseline", "ControlBaseline", "MeanShiftBaseline"]
