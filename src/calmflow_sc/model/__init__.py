"""User-facing scvi-tools models."""

from __future__ import annotations

from ._model import CaLMFlowPerturb

__all__ = ["CaLMFlowPerturb"]
