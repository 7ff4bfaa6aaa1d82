"""Training callbacks: best-weight restoring, interruption recording, resumable checkpoints."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import Callback

from .._saving import save_model, training_state_writer

if TYPE_CHECKING:
    from ..model import CaLMFlowPerturb


class RestoreBestWeights(Callback):
    """Restore the weights of the epoch with the lowest validation loss at the end of training.

    The best weights are copied in memory (nothing is written to disk); frozen parameters,
    which training does not change, are not copied. Without a validation set nothing changes.

    Parameters
    ----------
    monitor
        Logged metric to minimise.

    Attributes
    ----------
    best_score
        Lowest value of ``monitor`` seen.
    best_epoch
        Epoch it was seen at (0-based), or ``None``.
    """

    def __init__(self, monitor: str = "validation_loss"):
        super().__init__()
        self.monitor = monitor
        self.best_score = math.inf
        self.best_epoch: int | None = None
        self._best_state: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        """Copy the weights when the monitored loss improves."""
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        if math.isfinite(value) and value < self.best_score:
            self.best_score = value
            self.best_epoch = int(trainer.current_epoch)
            self._best_state = {
                name: tensor.detach().clone()
                for name, tensor in pl_module.module.state_dict(keep_vars=True).items()
                if not (isinstance(tensor, torch.nn.Parameter) and not tensor.requires_grad)
            }

    def on_fit_end(self, trainer: Any, pl_module: Any) -> None:
        """Load the best weights back into the module."""
        self.restore(pl_module)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """An interrupted or failed run also ends with the best weights so far."""
        self.restore(pl_module)

    def restore(self, pl_module: Any) -> None:
        """Load the best weights copied so far (if any) into the module."""
        if self._best_state is not None:
            missing = pl_module.module.load_state_dict(self._best_state, strict=False).missing_keys
            frozen = {n for n, p in pl_module.module.named_parameters() if not p.requires_grad}
            if set(missing) - frozen:
                raise RuntimeError(f"Best weights lack {sorted(set(missing) - frozen)[:5]}.")


class InterruptionRecorder(Callback):
    """Count finished epochs and note a Ctrl-C, so that an interrupted model stays usable.

    Attributes
    ----------
    finished_epochs
        Epochs completed.
    interrupted
        Whether training stopped on ``KeyboardInterrupt``.
    """

    def __init__(self):
        super().__init__()
        self.finished_epochs = 0
        self.interrupted = False

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Count the epoch."""
        self.finished_epochs += 1

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        """Note a Ctrl-C."""
        self.interrupted = isinstance(exception, KeyboardInterrupt)


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

    The checkpoint is a model save with the training state
    (:mod:`calmflow_sc._saving._training_state`), from which ``model.train(resume=True)``
    continues.

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
        if not trainer.is_global_zero:
            return
        schedulers = trainer.lr_scheduler_configs
        scheduler = schedulers[0].scheduler.state_dict() if schedulers else None
        planned_steps = int(getattr(trainer.lightning_module, "planned_steps", 0) or 0)
        state = {
            "finished_epochs": finished_epochs,
            "max_epochs": self.max_epochs,
            "global_step": int(trainer.global_step),
            "planned_steps": planned_steps,
            "optimizer": trainer.optimizers[0].state_dict(),
            "scheduler": scheduler,
            "split": list(self.split),
        }
        train, validation, test = self.split
        attributes = {
            "is_trained_": True,
            "history_": _history(trainer, self._earlier_history),
            "train_indices_": train,
            "validation_indices_": validation,
            "test_indices_": test,
        }
        mode = self.model.module.training
        save_model(
            self.model,
            self.directory,
            overwrite=True,
            extra=training_state_writer(state),
            attributes=attributes,
        )
        self.model.module.train(mode)
        self._last_saved = finished_epochs
