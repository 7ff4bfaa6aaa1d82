"""scvi-tools' training plan with a warm-up and cosine learning-rate schedule."""

from __future__ import annotations

import math
from typing import Any

import torch
from scvi.train import TrainingPlan
from torch import nn
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(step: int, n_steps: int, warmup_steps: int, final_ratio: float = 0.0) -> float:
    """Learning-rate factor: linear warm-up, then cosine decay to ``final_ratio``.

    Parameters
    ----------
    step
        Optimisation step (0-based).
    n_steps
        Planned number of steps.
    warmup_steps
        Steps of the linear warm-up from ``1 / warmup_steps`` to 1.
    final_ratio
        Factor reached at the last planned step.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, n_steps - warmup_steps))
    return final_ratio + (1.0 - final_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


class CaLMFlowTrainingPlan(TrainingPlan):
    """:class:`scvi.train.TrainingPlan` with AdamW and a warm-up + cosine schedule.

    The learning rate rises linearly over the first ``warmup_fraction`` of the planned steps
    and then follows a cosine to ``final_lr_ratio`` times its peak at the last planned step
    (``max_epochs`` x steps per epoch), updated every step. With
    ``reduce_lr_on_plateau=True`` scvi-tools' plateau schedule is used instead.

    Parameters
    ----------
    module
        The module to train.
    warmup_fraction
        Share of the planned steps spent warming up.
    final_lr_ratio
        Learning rate at the end, relative to the peak.
    resume_state
        Optimizer and schedule state of an interrupted run (``optimizer``, ``scheduler``
        state dicts and its ``planned_steps``), as :meth:`CaLMFlowPerturb.train` reads it
        from a training checkpoint.
    **kwargs
        Further arguments of :class:`scvi.train.TrainingPlan` (``lr``, ``weight_decay``,
        ``eps``, ``optimizer``, ...). AdamW with ``eps=1e-8`` unless given.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        warmup_fraction: float = 0.05,
        final_lr_ratio: float = 0.0,
        resume_state: dict | None = None,
        **kwargs: Any,
    ):
        if not 0.0 <= warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction}.")
        if not 0.0 <= final_lr_ratio <= 1.0:
            raise ValueError(f"final_lr_ratio must be in [0, 1], got {final_lr_ratio}.")
        kwargs.setdefault("optimizer", "AdamW")
        kwargs.setdefault("eps", 1e-8)
        super().__init__(module, **kwargs)
        self.warmup_fraction = float(warmup_fraction)
        self.final_lr_ratio = float(final_lr_ratio)
        self.resume_state = resume_state
        self.planned_steps: int | None = None

    def training_step(self, batch: dict, batch_idx: int) -> Any:
        """scvi-tools' training step, stopped before the update when the loss is not finite."""
        output = super().training_step(batch, batch_idx)
        loss = output["loss"] if isinstance(output, dict) else output
        if not bool(torch.isfinite(loss.detach()).all()):
            raise NonFiniteLossError(
                f"The training loss became {float(loss.detach()):g} at step "
                f"{self.global_step} (epoch {self.current_epoch}); training stopped before "
                "this update, and the model keeps the weights of the best epoch so far (or of "
                f"the last finite step). Lower the learning rate (now {self.lr:g}, e.g. "
                "lr=1e-4), and check that the input is log-normalised expression (values up to "
                "about 10), not raw counts or scaled data."
            )
        return output

    def configure_optimizers(self) -> dict[str, Any]:
        """The optimizer, with the schedule stepped every optimisation step."""
        config = super().configure_optimizers()
        resume = self.resume_state
        if resume is not None:
            config["optimizer"].load_state_dict(resume["optimizer"])
        if self.reduce_lr_on_plateau:
            return config
        n_steps = max(1, int(self.trainer.estimated_stepping_batches))
        if resume is not None and resume.get("planned_steps"):
            n_steps = int(resume["planned_steps"])  # the interrupted run's schedule
        self.planned_steps = n_steps
        warmup = max(1, round(self.warmup_fraction * n_steps))
        final = self.final_lr_ratio

        def factor(step: int) -> float:
            return warmup_cosine(step, n_steps, warmup, final)

        scheduler = LambdaLR(config["optimizer"], factor)
        if resume is not None and resume.get("scheduler") is not None:
            scheduler.load_state_dict(resume["scheduler"])
            step = scheduler.last_epoch  # continue the schedule where the run stopped
            groups = config["optimizer"].param_groups
            for group, base in zip(groups, scheduler.base_lrs, strict=True):
                group["lr"] = base * factor(step)
        config["lr_scheduler"] = {"scheduler": scheduler, "interval": "step"}
        return config
