"""Keep the weights of the best validation loss and restore them when training ends."""

from __future__ import annotations

import math
from typing import Any

import torch
from lightning.pytorch import Callback


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
