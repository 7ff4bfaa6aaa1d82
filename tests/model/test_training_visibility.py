"""What a user sees and bounds when training starts: the budget line, max_time, threads."""

from __future__ import annotations

import logging
import time

import torch

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup


def test_training_starts_with_one_line_of_cells_steps_and_rule(caplog):
    adata = gen_adata(n_cells=200)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with caplog.at_level(logging.INFO, logger="scvi.calmflow_sc"):
        model.train(max_epochs=2, enable_progress_bar=False, num_threads=1)
    lines = [r.getMessage() for r in caplog.records if r.name == "scvi.calmflow_sc"]
    assert len(lines) == 1
    assert "up to 2 epochs x 1 step of 128 cells = 2 steps, from max_epochs as given" in lines[0]
    assert "1 CPU thread" in lines[0]


def test_max_time_stops_training_and_keeps_a_usable_model():
    adata = gen_adata(n_cells=200)
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    before = torch.get_num_threads()
    start = time.perf_counter()
    model.train(
        max_epochs=100_000, max_time={"seconds": 2}, early_stopping=False, enable_progress_bar=False
    )
    assert time.perf_counter() - start < 60
    assert 0 < len(model.history["elbo_train"]) < 100_000
    assert model.is_trained_
    assert torch.get_num_threads() == before  # the training's threads are given back
    model.predict(adata[adata.obs["condition"] == "control"].copy(), perturbation="IFNB")


def test_setting_the_seed_prints_nothing():
    """The quick start's ``scvi.settings.seed = 0`` used to print Lightning's "Seed set to 0"."""
    import calmflow_sc  # noqa: F401  # its import quiets the message

    seed_logger = logging.getLogger("lightning.fabric.utilities.seed")
    assert not seed_logger.isEnabledFor(logging.INFO)
    assert seed_logger.isEnabledFor(logging.WARNING)  # its warnings still show
