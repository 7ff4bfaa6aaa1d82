"""CaLMFlow for single-cell perturbation prediction."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import baselines, data, datasets, metrics, pl, tl, train
from ._checkpoint import CheckpointError
from .model import CaLMFlowPerturb

try:
    __version__ = version("calmflow-sc")
except PackageNotFoundError:  # pragma: no cover - source checkout without install
    __version__ = "0.0.0"

__all__ = [
    "CaLMFlowPerturb",
    "CheckpointError",
    "baselines",
    "data",
    "datasets",
    "metrics",
    "pl",
    "tl",
    "train",
]
