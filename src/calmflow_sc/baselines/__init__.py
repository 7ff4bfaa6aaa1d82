"""Perturbation-response baselines with the same interface as the main model."""

from __future__ import annotations

from ._base import Baseline
from ._control import ControlBaseline
from ._flow_matching import FlowMatchingBaseline
from ._knowledge_knn import KnowledgeKNNBaseline
from ._knowledge_ridge import KnowledgeRidgeBaseline
from ._linear import LinearBaseline
from ._mean_shift import MeanShiftBaseline
from ._reference_effects import NearestPerturbationBaseline, PerturbedMeanBaseline

__all__ = [
    "Baseline",
    "ControlBaseline",
    "FlowMatchingBaseline",
    "KnowledgeKNNBaseline",
    "KnowledgeRidgeBaseline",
    "LinearBaseline",
    "MeanShiftBaseline",
    "NearestPerturbationBaseline",
    "PerturbedMeanBaseline",
]
