from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from calmflow_sc.train import (
    RestoreBestWeights,
    default_cell_visits,
    default_max_epochs,
    warmup_cosine,
)


def test_warmup_then_cosine_to_the_final_ratio():
    factors = [warmup_cosine(step, 100, 10, 0.1) for step in range(101)]
    assert factors[0] == pytest.approx(0.1)
    assert factors[9] == pytest.approx(1.0)
    assert factors[100] == pytest.approx(0.1)
    assert factors[55] == pytest.approx(0.1 + 0.9 * 0.5)  # halfway through the decay
    assert np.all(np.diff(factors[10:]) <= 1e-12)


def test_budget_scales_with_the_data_in_cell_visits():
    assert default_cell_visits(1_000) == 75_000
    assert default_cell_visits(4_000) == 150_000  # twice the visits for four times the cells
    assert default_max_epochs(1_000_000) == 3
    assert default_max_epochs(770) == 86
    assert default_max_epochs(1_000, cell_visits=100_000) == 100
    assert default_max_epochs(3_000, cell_visits=100_000) == 34
    assert default_max_epochs(10_000_000, cell_visits=100_000) == 1
    assert default_max_epochs(10, cell_visits=100_000, max_epochs=500) == 500
    with pytest.raises(ValueError, match="positive"):
        default_max_epochs(0)


def test_best_weights_are_restored_at_the_end():
    plan = SimpleNamespace(module=nn.Linear(2, 1))
    plan.module.bias.requires_grad_(False)  # frozen: not copied, left as it is
    callback = RestoreBestWeights("validation_loss")
    for epoch, (loss, value) in enumerate(
        [(3.0, 1.0), (1.0, 2.0), (2.0, 3.0), (float("nan"), 4.0)]
    ):
        with torch.no_grad():
            plan.module.weight.fill_(value)
        trainer = SimpleNamespace(
            sanity_checking=False,
            current_epoch=epoch,
            callback_metrics={"validation_loss": torch.tensor(loss)},
        )
        callback.on_validation_end(trainer, plan)
    assert callback.best_epoch == 1
    assert set(callback._best_state) == {"weight"}
    callback.on_fit_end(trainer, plan)
    torch.testing.assert_close(plan.module.weight, torch.full((1, 2), 2.0))
