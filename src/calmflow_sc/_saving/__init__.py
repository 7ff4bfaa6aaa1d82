"""Saving models: directories that load without running code, verified and written atomically.

A saved model is a directory of plain files, each named with the save's prefix:

``manifest.json``
    The format name and version, the package version, the model class and the SHA-256 and
    size of every other file of the save; written last.
``model.json``
    The model's attributes (registry, arguments, categories, gene names, history, splits) as
    plain JSON (:mod:`._serialization`).
``weights.safetensors``
    Every tensor of the module (weights, PCA, control cells): safetensors holds raw tensors
    only, so reading it cannot run code.
``language_model/``
    The language model's configuration and tokenizer files (JSON and text).
``adata.h5ad`` / ``mdata.h5mu``
    The training data, when saved with it.
``training_state.safetensors`` / ``training_state.json``
    In a training checkpoint only: the optimizer, the schedule, the epochs and the split.

Modules: :mod:`._format` (names, manifest, checksums, atomic writes), :mod:`._serialization`
(attributes as JSON), :mod:`._model_files` (a model's files, and the parts a loaded model takes
from them), :mod:`._training_state` (a training checkpoint's optimizer and schedule) and
:mod:`._legacy` (calmflow-sc 0.1.0's pickles). Only the format is imported here; the
other names are imported when first used, so that naming :class:`CheckpointError` loads
neither torch nor scvi-tools.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._format import CheckpointError, has_manifest, has_save, read_manifest, write_checkpoint

#: Names that need torch, imported from their module when first asked for.
_LAZY = {
    "SavedModel": "._model_files",
    "SavedParts": "._model_files",
    "read_saved_model": "._model_files",
    "restore_model": "._model_files",
    "save_model": "._model_files",
    "read_training_state": "._training_state",
    "training_state_writer": "._training_state",
    "damaged_legacy": "._legacy",
    "is_legacy": "._legacy",
    "legacy_error": "._legacy",
    "read_pickled_model": "._legacy",
    "warn_legacy": "._legacy",
}

__all__ = [
    "CheckpointError",
    "has_manifest",
    "has_save",
    "read_manifest",
    "write_checkpoint",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
