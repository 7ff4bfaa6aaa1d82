"""Training a CaLMFlowPerturb: the run, its validation, its budget and its checkpoints."""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scvi

from .._outputs import check_count
from .._saving import read_manifest, read_saved_model, read_training_state
from ..data import MIN_TRAINING_CELLS
from ..train import (
    HELDOUT_MONITOR,
    EpochProgressBar,
    InterruptionRecorder,
    RestoreBestWeights,
    TrainingCheckpoint,
    budget_summary,
    default_max_epochs,
    quiet_libraries,
    resolve_num_threads,
    torch_threads,
)
from ._heldout import (
    check_validation,
    heldout_conditions,
    heldout_score,
    record_heldout,
    refit_all_conditions,
    weights_copy,
)
from ._training_data import TrainingDataMixin

#: A child of scvi-tools' logger, so that its verbosity setting shows or hides the messages.
logger = logging.getLogger("scvi.calmflow_sc")


class TrainingMixin(TrainingDataMixin):
    """Training: the run, its validation and its checkpoints (the data: the base mixin).

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int | None = None,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        early_stopping: bool = True,
        restore_best_weights: bool = True,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every_n_epochs: int = 1,
        resume: bool = False,
        validation: str | pd.DataFrame = "cells",
        refit: bool = False,
        max_time: str | dict | timedelta | None = None,
        num_threads: int | None = None,
        plan_kwargs: dict | None = None,
        **kwargs: Any,
    ):
        """Train the model with the scvi-tools training plan and runner.

        The learning rate warms up over the first 5% of the steps and then decays along a
        cosine. 10% of the target cells are held out; their loss, with the same sources, paths
        and noise at every epoch, decides early stopping and which epoch's weights are kept.
        With ``validation="conditions"``, whole conditions are held out instead and the
        distance of their predictions to their real cells decides (see ``validation``).

        Parameters
        ----------
        max_epochs
            Largest number of passes over the data. ``None`` visits about
            ``75,000 * sqrt(n / 1,000)`` cells for ``n`` training cells
            (:func:`calmflow_sc.train.default_cell_visits`): 86 epochs of 770 cells, 3 of a
            million.
        batch_size
            Cells per minibatch; ``None`` uses 128.
        accelerator
            ``"cpu"``, ``"gpu"`` or ``"auto"`` (Lightning).
        devices
            Devices to use (Lightning); several GPUs train with DDP through
            ``strategy="ddp"``.
        lr
            Peak learning rate of AdamW.
        weight_decay
            Weight decay of AdamW.
        early_stopping
            Stop when the validation loss has not improved for a tenth of ``max_epochs``
            (at least 5 epochs); tune with ``early_stopping_patience``.
        restore_best_weights
            End with the weights of the epoch with the lowest validation loss.
        checkpoint_dir
            Write a training checkpoint there every ``checkpoint_every_n_epochs`` epochs: a
            model save (loadable with :meth:`load`) with the optimizer's state, the schedule,
            the split and the history, replaced atomically each time.
        checkpoint_every_n_epochs
            Epochs between checkpoints.
        resume
            Continue the run whose checkpoint is in ``checkpoint_dir``: its weights, optimizer
            state, learning-rate schedule, split and history, for the epochs it had left
            (``max_epochs``, if given, is the new total). Early stopping and the best-weight
            restore start afresh.
        validation
            What decides early stopping and the weights kept: ``"cells"``, the loss of held-out
            cells of the training conditions; ``"conditions"``, whole conditions held out of
            training (a tenth, at most 4, of each kind the data has: a gene with all its
            conditions, a pair of measured singles, a perturbation in one of its cell types;
            scvi-tools' seed), predicted at every validation and scored by energy distance in
            model space (``heldout_distance_validation``; ``"cells"`` with a warning where
            none can be held out); or a DataFrame of the conditions to hold out. They are
            listed in ``model.history["heldout_conditions"]`` (:doc:`/method`).
        refit
            After validating on held-out conditions, train again from the start on all of
            them for the epochs they chose (twice the time).
        max_time
            Stop after this much wall time (Lightning's ``max_time``: ``"DD:HH:MM:SS"``, a
            :class:`~datetime.timedelta` or a dict such as ``{"minutes": 10}``), keeping the
            best weights so far.
        num_threads
            CPU threads of torch while training; ``None`` uses ``scvi.settings.num_threads``
            if set, else ``OMP_NUM_THREADS``'s, else one thread on machines with at most 4
            cores and half the cores on larger ones (:func:`calmflow_sc.train.default_num_threads`;
            on a small machine that runs anything else, more threads are many times slower).
        plan_kwargs
            Further arguments of :class:`calmflow_sc.train.CaLMFlowTrainingPlan`, e.g.
            ``warmup_fraction``, ``final_lr_ratio``, ``reduce_lr_on_plateau``.
        **kwargs
            Further arguments of :meth:`scvi.model.base.UnsupervisedTrainingMixin.train` and
            the Lightning trainer, e.g. ``precision="bf16-mixed"``, ``train_size``,
            ``early_stopping_patience``, ``check_val_every_n_epoch``.

        Notes
        -----
        Training starts with one line (scvi-tools' logger, shown at its default verbosity)
        giving the cells, epochs and steps that will run at most, the rule that chose them, and
        the threads.
        """
        if self.adata is None:
            raise ValueError(
                "This model was loaded without data; load it with `adata=` to train further."
            )
        if max_epochs is not None and int(max_epochs) < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}.")
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        check_validation(validation, resume)
        given = dict(kwargs)  # for a refit
        if self.adata.n_obs < MIN_TRAINING_CELLS:
            raise ValueError(
                f"Only {self.adata.n_obs} cells: at least {MIN_TRAINING_CELLS} are needed to "
                "train. Use more cells."
            )
        resume_state = None
        if resume:
            if checkpoint_dir is None:
                raise ValueError("resume=True needs checkpoint_dir, the run's checkpoint.")
            resume_state = self._read_checkpoint(checkpoint_dir)
            total = resume_state["max_epochs"] if max_epochs is None else int(max_epochs)
            max_epochs = total - resume_state["finished_epochs"]
            if max_epochs < 1:
                raise ValueError(
                    f"The checkpoint in {str(checkpoint_dir)!r} finished its {total} epochs; "
                    "pass a larger max_epochs to train further."
                )
        seed = int(scvi.settings.seed or 0)
        heldout = heldout_conditions(self, validation, seed)
        builder, targets = self._fit_to_training_cells(heldout.rows if heldout else None)
        initial = weights_copy(self.module) if refit and heldout else None  # to refit from
        if len(targets) < MIN_TRAINING_CELLS:
            raise ValueError(
                f"Only {len(targets)} perturbed cells: at least {MIN_TRAINING_CELLS} are needed "
                "to learn flows from control cells. Use more cells."
            )
        batch_size = batch_size or 128
        splitter = dict(kwargs.pop("datasplitter_kwargs", None) or {})
        if resume_state is not None:
            splitter["external_indexing"] = [np.asarray(i) for i in resume_state["split"]]
        if "external_indexing" not in splitter:
            splitter["external_indexing"] = self._split(
                targets, self.adata.n_obs, kwargs.pop("train_size", None)
            )
        splitter.setdefault("builder", builder)
        n_train, n_validation = (len(part) for part in splitter["external_indexing"][:2])
        default_budget = max_epochs is None
        if max_epochs is None:
            max_epochs = default_max_epochs(n_train)
        plan = {"lr": lr, "weight_decay": weight_decay}
        plan.update(plan_kwargs or {})
        kwargs.setdefault("check_val_every_n_epoch", 1)
        steps_per_epoch = max(1, int(np.ceil(n_train / batch_size)))
        kwargs.setdefault("log_every_n_steps", min(10, steps_per_epoch))
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if n_validation == 0:
            early_stopping = restore_best_weights = False
        monitor = "elbo_validation"
        if heldout is not None:
            monitor = HELDOUT_MONITOR
            callbacks.append(heldout_score(self, heldout, builder.states, builder.conditions, seed))
        if early_stopping:
            kwargs.setdefault("early_stopping_monitor", monitor)
            kwargs.setdefault("early_stopping_patience", max(5, int(max_epochs) // 10))
        restore = RestoreBestWeights(monitor)
        if restore_best_weights or initial is not None:
            callbacks.append(restore)
        recorder = InterruptionRecorder()
        callbacks.append(recorder)
        if resume_state is not None:
            plan["resume_state"] = resume_state
        if checkpoint_dir is not None:
            before = resume_state["finished_epochs"] if resume_state is not None else 0
            callbacks.insert(  # first, so that it saves before another callback stops
                0,
                TrainingCheckpoint(
                    self,
                    checkpoint_dir,
                    check_count(checkpoint_every_n_epochs, "checkpoint_every_n_epochs"),
                    max_epochs=before + int(max_epochs),
                    split=list(splitter["external_indexing"]),
                    epochs_before=before,
                ),
            )
        if kwargs.get("enable_progress_bar", True) and not kwargs.get("simple_progress_bar"):
            kwargs["simple_progress_bar"] = False  # ours instead: the same, without v_num
            callbacks.append(EpochProgressBar())
        if max_time is not None:
            kwargs["max_time"] = max_time
        threads = resolve_num_threads(num_threads)
        stopping = "conditions" if heldout is not None else "cells" if early_stopping else "none"
        logger.info(
            budget_summary(
                n_train,
                n_validation,
                int(max_epochs),
                batch_size,
                default_budget,
                stopping,
                max_time,
                threads,
            ),
            extra={"highlighter": None},  # plain text in logs, not rich's coloured numbers
        )
        self.module.train()  # a loaded or trained model is in eval mode (dropout off)
        sigint = signal.getsignal(signal.SIGINT)
        try:
            with quiet_libraries(), torch_threads(threads):
                result = super().train(
                    max_epochs=max_epochs,
                    batch_size=batch_size,
                    accelerator=accelerator,
                    devices=devices,
                    early_stopping=early_stopping,
                    plan_kwargs=plan,
                    datasplitter_kwargs=splitter,
                    callbacks=callbacks,
                    **kwargs,
                )
        except (SystemExit, KeyboardInterrupt):
            if not recorder.interrupted:
                raise
            self._keep_interrupted_training(recorder.finished_epochs, splitter)
            return None
        finally:
            self.module.eval()
            # Lightning's shutdown after Ctrl-C ignores further Ctrl-C: give it back
            if sigint is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, sigint)
        record_heldout(self, heldout, restore.best_epoch)
        if initial is None:
            return result
        arguments = {"batch_size": batch_size, "accelerator": accelerator, "devices": devices}
        arguments |= {"lr": lr, "weight_decay": weight_decay, "plan_kwargs": plan_kwargs}
        arguments |= {"checkpoint_dir": checkpoint_dir, **given}
        arguments["checkpoint_every_n_epochs"] = checkpoint_every_n_epochs
        arguments |= {"max_time": max_time, "num_threads": num_threads}
        return refit_all_conditions(self, initial, (restore.best_epoch or 0) + 1, arguments)

    def _read_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """Load a training checkpoint's weights and history into this model; its state."""
        manifest = read_manifest(directory)  # verified once for both reads
        state = read_training_state(directory, manifest)
        saved = read_saved_model(
            type(self), Path(directory), "", self.module.control_start.device, manifest
        )
        if [str(name) for name in np.asarray(saved.var_names).ravel()] != list(self.var_names_):
            raise ValueError(
                f"The checkpoint in {str(directory)!r} was trained on other genes; resume it "
                "with the data it was trained on."
            )
        self.module.load_state_dict(saved.state)
        self.history_ = saved.attributes.get("history_")
        self.is_trained_ = True  # so that scvi-tools appends this run's history
        return state

    def _keep_interrupted_training(self, finished_epochs: int, splitter: dict) -> None:
        """After Ctrl-C: a usable model from the finished epochs, or a clear interruption."""
        if finished_epochs == 0:
            raise KeyboardInterrupt(
                "Training was interrupted before its first epoch finished; the model is "
                "unchanged in use (not trained)."
            ) from None
        train, validation, test = splitter["external_indexing"]
        self.train_indices_, self.validation_indices_, self.test_indices_ = train, validation, test
        self.is_trained_ = True
        warnings.warn(
            f"Training was interrupted after {finished_epochs} finished epoch(s). The model keeps "
            "the weights of its best epoch so far and can predict, be saved, or train further "
            "with model.train().",
            UserWarning,
            stacklevel=3,
        )
