"""Validation by held-out conditions: which conditions a run holds out, and their scorer."""

from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from ..train import HeldOutConditions, HeldOutConditionScore, choose_heldout_conditions

if TYPE_CHECKING:
    from ._model import CaLMFlowPerturb

logger = logging.getLogger(__name__)

#: The values of ``train(validation=...)`` besides a frame of conditions.
VALIDATION_MODES = ("cells", "conditions")
#: Real cells of each held-out condition its predictions are compared with.
HELDOUT_SCORED_CELLS = 256


def check_validation(validation: object, resume: bool = False) -> None:
    """Refuse a ``validation`` that is neither a mode nor a frame, or that cannot resume."""
    cells = isinstance(validation, str) and validation == "cells"
    if resume and not cells:
        raise ValueError(
            "resume=True continues a run validated on cells (the default); leave validation "
            "at 'cells'."
        )
    if cells or isinstance(validation, pd.DataFrame) or validation in VALIDATION_MODES:
        return
    raise ValueError(
        f"validation={validation!r} is not understood: pass 'cells' (held-out cells of the "
        "training conditions), 'conditions' (whole conditions held out, chosen from the "
        "registered ones) or a DataFrame of the conditions to hold out (the columns of "
        "setup_anndata's perturbation, cell-type and covariate keys)."
    )


def heldout_conditions(
    model: CaLMFlowPerturb, validation: str | pd.DataFrame, seed: int
) -> HeldOutConditions | None:
    """The conditions to hold out for ``validation``; ``None`` to validate on cells."""
    if isinstance(validation, str) and validation == "cells":
        return None
    space = model.condition_space
    builder = space.builder
    is_control, conditions, _ = space.registered_conditions(model.adata_manager)
    table = space.table()
    counts = np.bincount(conditions[~is_control], minlength=len(table))
    if isinstance(validation, pd.DataFrame):
        return _given(model, validation, counts)
    chosen = choose_heldout_conditions(
        table, counts, builder.perturbation_key, builder.control_value, space.n_contexts, seed
    )
    if chosen is None:
        warnings.warn(
            "validation='conditions' found no condition to hold out (it needs a perturbation "
            "measured in two contexts, a combination with its singles measured, or six measured "
            "singles, each with 20 cells); validating on held-out cells instead.",
            UserWarning,
            stacklevel=3,
        )
    return chosen


def _given(model: CaLMFlowPerturb, frame: pd.DataFrame, counts: np.ndarray) -> HeldOutConditions:
    """The conditions a user named, checked against the registered ones."""
    keys = model.condition_space.builder.condition_keys
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise KeyError(
            f"The validation conditions lack the column(s) {missing}; give one row per "
            f"condition with the columns {keys}."
        )
    rows = model.condition_space.condition_rows(frame)
    unknown = (rows < 0) | (counts[np.maximum(rows, 0)] == 0)
    if unknown.any():
        named = frame.loc[unknown, keys].astype(str).drop_duplicates().head(5)
        raise ValueError(
            f"{int(unknown.sum())} validation condition(s) have no registered perturbed cells, "
            f"e.g. {named.to_dict('records')}. Hold out conditions the data has."
        )
    rows = np.unique(rows)
    return HeldOutConditions(rows, rows, ("given",) * len(rows), counts)


def heldout_score(
    model: CaLMFlowPerturb,
    heldout: HeldOutConditions,
    states: torch.Tensor,
    conditions: np.ndarray,
    seed: int,
) -> HeldOutConditionScore:
    """The callback that scores the held-out conditions' predictions during training."""
    space = model.condition_space
    table = space.table()
    rng = np.random.default_rng(seed)
    targets = []
    for row in heldout.scored:
        cells = np.flatnonzero(conditions == row)
        if len(cells) > HELDOUT_SCORED_CELLS:
            cells = np.sort(rng.choice(cells, HELDOUT_SCORED_CELLS, replace=False))
        targets.append(states[torch.as_tensor(cells)])
    return HeldOutConditionScore(
        prompts=model.condition_prompts(table.loc[heldout.scored], strict=False),
        contexts=heldout.scored % space.n_contexts,
        targets=targets,
        kinds=heldout.kinds,
        temperature=model.temperature,
        n_cells=HELDOUT_SCORED_CELLS // 2,
        seed=seed,
    )


def record_heldout(
    model: CaLMFlowPerturb, heldout: HeldOutConditions | None, best_epoch: int | None
) -> None:
    """List the held-out conditions (if any) in the history; say which epoch they chose."""
    if heldout is None:
        return
    frame = heldout.frame(model.condition_space.table())
    frame["best_epoch"] = -1 if best_epoch is None else int(best_epoch)
    if model.history_ is not None:
        model.history_["heldout_conditions"] = frame
    kinds = ", ".join(f"{n} {kind}" for kind, n in frame["kind"].value_counts().items())
    logger.info(
        "Validated on %d held-out conditions (%s); the best weights came after %s epoch(s).",
        len(frame),
        kinds,
        "no" if best_epoch is None else best_epoch + 1,
    )


def refit_all_conditions(
    model: CaLMFlowPerturb, initial: dict[str, torch.Tensor], epochs: int, arguments: dict
) -> object:
    """Train again from the ``initial`` weights, on every condition, for ``epochs`` epochs.

    The history of the selection run is kept with its keys prefixed ``selection_``.
    """
    model.module.load_state_dict(initial)
    selection = dict(model.history_ or {})
    model.is_trained_ = False
    arguments = arguments | {"early_stopping": False, "restore_best_weights": False}
    result = model.train(max_epochs=epochs, **arguments)
    model.history_.update({f"selection_{key}": frame for key, frame in selection.items()})
    return result


def weights_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the module's weights and buffers (the untrained ones, to refit from)."""
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}
