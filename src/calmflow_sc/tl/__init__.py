"""Tools on predicted or observed perturbation effects, scanpy style."""

from __future__ import annotations

from ._interactions import interaction_scores, interactions

__all__ = ["interaction_scores", "interactions"]
