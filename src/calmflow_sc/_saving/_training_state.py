"""A training checkpoint's state: the optimizer, the schedule, the epochs and the split.

A training checkpoint is a model save (loadable with :meth:`CaLMFlowPerturb.load`, no
pickles) with two more files: ``training_state.safetensors`` (the optimizer's tensors) and
``training_state.json`` (the optimizer's settings, the learning-rate schedule, the finished
and planned epochs and steps, and the split). The callback that writes checkpoints is
:class:`calmflow_sc.train._callbacks.TrainingCheckpoint`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ._format import CheckpointError, read_manifest
from ._serialization import from_json_value, to_json_value

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


def _split_optimizer_state(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors of an optimizer's state dict apart from the rest (plain data)."""
    tensors, plain = {}, {}
    for index, values in state["state"].items():
        plain[str(index)] = {}
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                plain[str(index)][name] = value
    return tensors, {"state": plain, "param_groups": state["param_groups"]}


def _join_optimizer_state(tensors: dict[str, torch.Tensor], plain: dict) -> dict:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in plain["state"].items()}
    for key, tensor in tensors.items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = tensor
    return {"state": state, "param_groups": plain["param_groups"]}


def training_state_writer(state: dict[str, Any]) -> Callable[[Path], None]:
    """What writes ``state`` into a save's folder (``extra`` of :func:`save_model`).

    ``state`` holds ``finished_epochs``, ``max_epochs``, ``global_step``, ``planned_steps``,
    ``optimizer`` (a state dict), ``scheduler`` (a state dict or ``None``) and ``split``;
    it is encoded now, so that what cannot be saved is an error before anything is written.
    """
    from safetensors.torch import save_file

    tensors, plain = _split_optimizer_state(state["optimizer"])
    document = to_json_value(state | {"optimizer": plain}, "training_state")

    def write(folder: Path) -> None:
        save_file(tensors, folder / STATE_TENSORS)
        (folder / STATE_JSON).write_text(json.dumps(document))

    return write


def read_training_state(directory: str | Path, manifest: dict | None = None) -> dict[str, Any]:
    """Read a training checkpoint's state, verified against its manifest.

    ``manifest``, when the caller has already verified it, saves hashing every file again.

    Returns
    -------
    ``finished_epochs``, ``max_epochs``, ``global_step``, ``planned_steps``, ``optimizer`` (a
    state dict), ``scheduler`` (a state dict or ``None``) and ``split``.
    """
    from safetensors.torch import load_file

    directory = Path(directory)
    if manifest is None:
        manifest = read_manifest(directory)
    if STATE_JSON not in manifest["files"] or STATE_TENSORS not in manifest["files"]:
        raise CheckpointError(
            f"{str(directory)!r} is a saved model without training state; a training "
            "checkpoint is written by model.train(checkpoint_dir=...). To train a saved model "
            "further, load it and call model.train()."
        )
    state = from_json_value(json.loads((directory / STATE_JSON).read_text()))
    tensors = load_file(directory / STATE_TENSORS)
    state["optimizer"] = _join_optimizer_state(tensors, state["optimizer"])
    return state
