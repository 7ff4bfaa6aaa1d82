"""Training: the schedule, early stopping, the best weights and the default budget."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.train import RestoreBestWeights
from helpers import TINY_MODEL, gen_adata, setup, trained_model


@pytest.fixture(scope="module")
def adata():
    data = gen_adata()
    setup(data)
    return data


def test_learning_rate_warms_up_and_decays_to_zero(adata):
    model = trained_model(adata, max_epochs=4)
    scheduler = model.trainer.lr_scheduler_configs[0].scheduler
    assert model.trainer.lr_scheduler_configs[0].interval == "step"
    assert scheduler.get_last_lr()[0] == pytest.approx(0.0, abs=1e-6)
    assert model.trainer.optimizers[0].defaults["eps"] == 1e-8


def test_training_ends_with_the_weights_of_the_best_validation_loss(adata):
    model = trained_model(adata, max_epochs=5)
    callback = next(c for c in model.trainer.callbacks if isinstance(c, RestoreBestWeights))
    losses = model.history["elbo_validation"]["elbo_validation"].to_numpy()
    assert callback.best_epoch == int(np.argmin(losses))
    state = model.module.state_dict()
    assert "backbone.transformer.wte.weight" not in callback._best_state  # frozen, not copied
    for name, tensor in callback._best_state.items():
        torch.testing.assert_close(state[name], tensor, msg=name)


def test_early_stopping_ends_a_run_that_stopped_improving(adata):
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model.train(
        max_epochs=60,
        lr=1e-12,
        early_stopping_patience=3,
        accelerator="cpu",
        enable_progress_bar=False,
    )
    assert len(model.history["elbo_validation"]) < 15
    assert model.is_trained_


def test_without_a_validation_set_nothing_is_monitored(adata):
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model.train(max_epochs=2, train_size=1.0, accelerator="cpu", enable_progress_bar=False)
    assert not any(isinstance(c, RestoreBestWeights) for c in model.trainer.callbacks)
    assert len(model.history["elbo_train"]) == 2


def test_decoding_through_the_inverse_pca(adata):
    model = trained_model(adata, max_epochs=1)
    query = adata[adata.obs["condition"] == "control"][:12].copy()
    residual = model.predict(query, "IFNB", inplace=False, decoding="residual")
    pca = model.predict(query, "IFNB", inplace=False, decoding="pca", keep_zeros=False)
    representation = model.module.representation
    states = torch.as_tensor(pca.obsm["X_calmflow"]) / representation.scale
    expected = representation.inverse_transform(states).numpy()
    np.testing.assert_allclose(pca.X, expected, atol=1e-5)
    assert pca.uns["calmflow_params"]["decoding"] == "pca"
    np.testing.assert_allclose(residual.obsm["X_calmflow"], pca.obsm["X_calmflow"], atol=1e-6)
    assert np.abs(residual.X - pca.X).max() > 1e-3
    with pytest.raises(ValueError, match="decoding must be one of"):
        model.predict(query, "IFNB", decoding="inverse")


def test_training_prints_no_library_banners_and_no_v_num(capfd):
    adata = gen_adata()
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    capfd.readouterr()
    model.train(max_epochs=2, accelerator="cpu")
    out, err = capfd.readouterr()
    printed = out + err
    for chatter in ("GPU available", "TPU available", "litlogger", "LeafSpec", "v_num"):
        assert chatter not in printed, chatter
    assert "Epoch 2/2" in printed and "train_loss" in printed  # the bar still shows progress
