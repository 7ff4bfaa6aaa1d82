"""Periodic training checkpoints that resume with their optimizer, schedule and history.

A training checkpoint is a model save (:mod:`calmflow_sc._checkpoint`: loadable with
:meth:`CaLMFlowPerturb.load`, no pickles) with two more files: ``training_state.safetensors``
(the optimizer's tensors) and ``training_state.json`` (the optimizer's settings, the
learning-rate schedule, the finished and planned epochs and steps, and the split).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback

from .._checkpoint import CheckpointError, read_manifest
from .._serialization import from_json_value, to_json_value

if TYPE_CHECKING:
    from ._model import CaLMFlowPerturb

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


def _history(trainer: Any, earlier: dict | None) -> dict[str, pd.DataFrame]:
    """The history so far: an earlier run's, then this run's epochs."""
    logged = getattr(trainer.logger, "history", None) or {}
    history = {key: frame.copy() for key, frame in (earlier or {}).items()}
    for key, frame in logged.items():
        frame = frame.copy()
        if key in history:
            start = len(history[key])
            frame.index = np.arange(start, start + len(frame))
            frame.index.name = history[key].index.name
            history[key] = pd.concat([history[key], frame])
        else:
            history[key] = frame
    return history


class TrainingCheckpoint(Callback):
    """Save the model and its training state every ``every_n_epochs`` epochs.

    Parameters
    ----------
    model
        The model being trained.
    directory
        Where the checkpoint goes (replaced atomically at every save).
    every_n_epochs
        Epochs between checkpoints.
    max_epochs
        The planned number of epochs of the whole run.
    split
        The training, validation and test indices.
    epochs_before
        Epochs finished before this run (when it resumes one).
    """

    def __init__(
        self,
        model: CaLMFlowPerturb,
        directory: str | Path,
        every_n_epochs: int,
        max_epochs: int,
        split: list[np.ndarray],
        epochs_before: int = 0,
    ):
        super().__init__()
        self.model = model
        self.directory = Path(directory)
        self.every_n_epochs = int(every_n_epochs)
        self.max_epochs = int(max_epochs)
        self.split = split
        self.epochs_before = int(epochs_before)
        self._earlier_history = model.history_ if epochs_before else None
        self._last_saved: int | None = None

    # An epoch's losses reach the logger after the callbacks' on_train_epoch_end, so each
    # checkpoint is written as the next epoch starts (and at the end of training).
    def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        """Write the checkpoint after every ``every_n_epochs`` finished epochs."""
        finished = self.epochs_before + trainer.current_epoch
        if trainer.current_epoch > 0 and finished % self.every_n_epochs == 0:
            self.save(trainer, finished)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        """Write the last checkpoint (the last epoch's weights, to continue from)."""
        finished = self.epochs_before + trainer.current_epoch
        if finished != self._last_saved and trainer.current_epoch > 0:
            self.save(trainer, finished)

    def save(self, trainer: Any, finished_epochs: int) -> None:
        """Write the model and training state now (on the first process only, under DDP)."""
        from safetensors.torch import save_file

        if not trainer.is_global_zero:
            return

        from ._persistence import save_model

        optimizer = trainer.optimizers[0].state_dict()
        tensors, plain = _split_optimizer_state(optimizer)
        schedulers = trainer.lr_scheduler_configs
        scheduler = schedulers[0].scheduler.state_dict() if schedulers else None
        planned_steps = int(getattr(trainer.lightning_module, "planned_steps", 0) or 0)
        state = {
            "finished_epochs": finished_epochs,
            "max_epochs": self.max_epochs,
            "global_step": int(trainer.global_step),
            "planned_steps": planned_steps,
            "optimizer": plain,
            "scheduler": scheduler,
            "split": list(self.split),
        }
        document = to_json_value(state, "training_state")

        def extra(folder: Path) -> None:
            save_file(tensors, folder / STATE_TENSORS)
            (folder / STATE_JSON).write_text(json.dumps(document))

        train, validation, test = self.split
        attributes = {
            "is_trained_": True,
            "history_": _history(trainer, self._earlier_history),
            "train_indices_": train,
            "validation_indices_": validation,
            "test_indices_": test,
        }
        mode = self.model.module.training
        save_model(self.model, self.directory, overwrite=True, extra=extra, attributes=attributes)
        self.model.module.train(mode)
        self._last_saved = finished_epochs


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
