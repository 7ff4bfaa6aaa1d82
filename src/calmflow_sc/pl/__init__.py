"""Plots of predictions against observations, built on scanpy and matplotlib."""

from __future__ import annotations

from ._embedding import joint_embedding
from ._interactions import interactions
from ._mean_change import mean_change, mean_change_heatmap
from ._metrics import metrics_comparison
from ._support import prior_support, support_table

__all__ = [
    "interactions",
    "joint_embedding",
    "mean_change",
    "mean_change_heatmap",
    "metrics_comparison",
    "prior_support",
    "support_table",
]
