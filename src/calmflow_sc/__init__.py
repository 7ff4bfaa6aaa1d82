"""CaLMFlow for single-cell perturbation prediction.

Submodules and the model are imported when first used (``calmflow_sc.CaLMFlowPerturb``,
``calmflow_sc.datasets`` ...), so that ``import calmflow_sc`` and the command line's help
do not load torch and scvi-tools.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("calmflow-sc")
except PackageNotFoundError:  # pragma: no cover - source checkout without install
    __version__ = "0.0.0"

# Lightning announces every ``scvi.settings.seed = ...`` with "Seed set to N": a line the user
# did not ask for in every notebook and script. Its warnings still show.
logging.getLogger("lightning.fabric.utilities.seed").setLevel(logging.WARNING)

_SUBMODULES = ("baselines", "data", "datasets", "metrics", "model", "module", "nn", "pl", "tl")
_SUBMODULES += ("train", "knowledge")
_ATTRIBUTES = {"CaLMFlowPerturb": ".model", "CheckpointError": "._saving"}

__all__ = [
    "CaLMFlowPerturb",
    "CheckpointError",
    "baselines",
    "data",
    "datasets",
    "knowledge",
    "metrics",
    "pl",
    "tl",
    "train",
]

if TYPE_CHECKING:
    from . import baselines, data, datasets, knowledge, metrics, pl, tl, train
    from ._saving import CheckpointError
    from .model import CaLMFlowPerturb


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
