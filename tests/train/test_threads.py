from __future__ import annotations

import pytest
import scvi
import torch

from calmflow_sc.train import (
    FEW_CORES,
    budget_summary,
    default_num_threads,
    resolve_num_threads,
    torch_threads,
)


def test_small_machines_train_with_one_thread_and_large_ones_with_half_the_cores():
    assert default_num_threads(1) == 1
    assert default_num_threads(FEW_CORES) == 1
    assert default_num_threads(16) == 8


def test_the_call_then_the_users_setting_then_the_default(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(scvi.settings, "_num_threads", None)
    assert resolve_num_threads(3) == 3
    assert resolve_num_threads(None) == default_num_threads()
    monkeypatch.setattr(scvi.settings, "_num_threads", 5)
    assert resolve_num_threads(None) == 5
    monkeypatch.setattr(scvi.settings, "_num_threads", None)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_num_threads(None) == torch.get_num_threads()
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="num_threads must be a positive integer"):
            resolve_num_threads(bad)


def test_threads_are_restored_after_use():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_the_budget_line_names_cells_steps_rule_and_threads():
    line = budget_summary(1677, 186, 83, 128, True, "cells", None, 1)
    assert "1,677 cells (186 held out" in line
    assert "83 epochs x 14 steps of 128 cells = 1,162 steps" in line
    assert "default budget of 97,124 cell visits" in line
    assert "1 CPU thread " in line
    line = budget_summary(100, 0, 5, 50, False, "none", {"minutes": 1}, 2)
    assert "max_epochs as given; no early stopping, or after max_time={'minutes': 1}" in line
    assert "2 CPU threads" in line
