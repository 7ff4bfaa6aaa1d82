"""Failures that must be loud, outputs that must not destroy, predictions that must repeat."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.baselines import MeanShiftBaseline
from calmflow_sc.train import NonFiniteLossError
from helpers import TINY_MODEL, gen_adata, setup, trained_model


@pytest.fixture(scope="module")
def model():
    return trained_model(max_epochs=1)


@pytest.fixture()
def query():
    adata = gen_adata(n_cells=60, seed=4)
    return adata[adata.obs["condition"] == "control"].copy()


def new_model(**kwargs) -> CaLMFlowPerturb:
    adata = gen_adata()
    setup(adata)
    return CaLMFlowPerturb(adata, **(TINY_MODEL | kwargs))


def fit(model: CaLMFlowPerturb, **kwargs) -> None:
    kwargs.setdefault("max_epochs", 2)
    model.train(accelerator="cpu", enable_progress_bar=False, **kwargs)


# ---------------------------------------------------------------- training fails loudly
def test_divergent_learning_rate_stops_training_with_advice():
    model = new_model()
    with pytest.raises(NonFiniteLossError, match=r"step \d+.*Lower the learning rate"):
        fit(model, max_epochs=20, lr=1e6)
    assert not model.is_trained_


class PoisonWeights(Callback):
    """Turn one weight NaN at the start of the second epoch."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            with torch.no_grad():
                next(pl_module.module.head.decoder.parameters()).view(-1)[0] = float("nan")


def test_weight_turned_nan_stops_training_and_restores_the_best_epoch():
    model = new_model()
    with pytest.raises(NonFiniteLossError):
        fit(model, max_epochs=4, callbacks=[PoisonWeights()])
    weights = torch.cat([p.detach().ravel() for p in model.module.parameters()])
    assert torch.isfinite(weights).all()  # the first epoch's weights came back


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1.0])
def test_bad_temperature_is_refused(model, query, temperature):
    with pytest.raises(ValueError, match="temperature must be finite"):
        model.predict(query, perturbation="IFNB", temperature=temperature)
    assert "calmflow" not in query.layers


def test_non_finite_predictions_are_not_written(query):
    model = trained_model(max_epochs=1)
    with torch.no_grad():
        for parameter in model.module.head.decoder.parameters():
            parameter.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="not finite; nothing was written"):
        model.predict(query, perturbation="IFNB")
    assert "calmflow" not in query.layers and "X_calmflow" not in query.obsm


def test_values_far_outside_log_expression_are_refused(model, query):
    query.X = query.X.toarray()
    query.X[0, 0] = 1e30
    with pytest.raises(ValueError, match="not log-transformed"):
        model.predict(query, perturbation="IFNB")
    adata = gen_adata()
    adata.X = adata.X.toarray()
    adata.X[0, 0] = 1e30
    with pytest.raises(ValueError, match="not log-transformed"):
        setup(adata)


def test_backed_anndata_is_checked_block_by_block(model, tmp_path):
    import anndata

    adata = gen_adata()
    adata.X = adata.X.toarray()
    adata.X[-1, -1] = np.nan  # in the last block read
    adata.write_h5ad(tmp_path / "cells.h5ad")
    backed = anndata.read_h5ad(tmp_path / "cells.h5ad", backed="r")
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        setup(backed)
    assert "_scvi_perturbation" not in backed.obs
    query = backed[backed.obs["condition"] == "control"]
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        model.predict(query, perturbation="IFNB", inplace=False)


def test_baseline_refuses_nan_query():
    adata = gen_adata()
    baseline = MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type").train()
    query = adata[adata.obs["condition"] == "control"].copy()
    query.X = query.X.toarray()
    query.X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        baseline.predict(query, "IFNB")
    assert "prediction" not in query.layers


# ---------------------------------------------------------------- outputs never destroy
def test_key_added_never_replaces_user_data(model, query):
    query.layers["counts"] = query.X.copy()
    query.obsm["X_umap"] = np.zeros((query.n_obs, 2))
    for key in ("counts", "umap"):
        with pytest.raises(ValueError, match="overwrite=True"):
            model.predict(query, perturbation="IFNB", key_added=key)
    np.testing.assert_array_equal(query.layers["counts"].toarray(), query.X.toarray())
    assert not query.obsm["X_umap"].any()
    model.predict(query, perturbation="IFNB", key_added="counts", overwrite=True)
    assert not np.array_equal(query.layers["counts"], query.X.toarray())


def test_a_prediction_replaces_its_own_earlier_output(model, query):
    model.predict(query, perturbation="IFNB")
    first = query.layers["calmflow"].copy()
    model.predict(query, perturbation="TNF")
    assert not np.array_equal(first, query.layers["calmflow"])


def test_registered_input_layer_is_protected():
    adata = gen_adata()
    adata.layers["logcounts"] = adata.X.copy()
    setup(adata, layer="logcounts")
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    fit(model, max_epochs=1)
    query = adata[adata.obs["condition"] == "control"].copy()
    with pytest.raises(ValueError, match="reads its input"):
        model.predict(query, perturbation="IFNB", key_added="logcounts")


def test_baseline_key_added_never_replaces_user_data():
    adata = gen_adata()
    adata.layers["counts"] = adata.X.copy()
    baseline = MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type").train()
    query = adata[adata.obs["condition"] == "control"].copy()
    with pytest.raises(ValueError, match="overwrite=True"):
        baseline.predict(query, "IFNB", key_added="counts")
    np.testing.assert_array_equal(query.layers["counts"].toarray(), query.X.toarray())


# ---------------------------------------------------------------- per-cell reproducibility
@pytest.mark.parametrize("source", ["control", "gaussian"])
def test_a_cells_prediction_ignores_the_rest_of_the_query(query, source):
    model = trained_model(max_epochs=1, source=source)
    full = model.predict(query, perturbation="IFNB", inplace=False, seed=3).X
    cells = query.obs_names
    subset = model.predict(query[cells[5:12]].copy(), "IFNB", inplace=False, seed=3).X
    np.testing.assert_allclose(subset, full[5:12], atol=1e-5)
    order = np.random.default_rng(0).permutation(query.n_obs)
    shuffled = model.predict(query[order].copy(), "IFNB", inplace=False, seed=3).X
    np.testing.assert_allclose(shuffled, full[order], atol=1e-5)
    batched = model.predict(query, "IFNB", inplace=False, seed=3, batch_size=3).X
    np.testing.assert_allclose(batched, full, atol=1e-5)
    other_seed = model.predict(query, "IFNB", inplace=False, seed=4).X
    assert not np.allclose(other_seed, full)


def test_a_generated_rows_cell_ignores_the_other_rows(model):
    import pandas as pd

    obs = pd.DataFrame(
        {
            "condition": ["IFNB", "TNF", "IFNB", "control", "TNF"],
            "cell_type": ["T cell", "B cell", "monocyte", "B cell", "T cell"],
        },
        index=[f"row{i}" for i in range(5)],
    )
    full = model.generate(obs, seed=2).X
    np.testing.assert_allclose(model.generate(obs.iloc[[4, 1]], seed=2).X, full[[4, 1]], atol=1e-5)
    np.testing.assert_allclose(model.generate(obs, seed=2, batch_size=2).X, full, atol=1e-5)


@pytest.mark.parametrize(
    ("argument", "value", "error"),
    [
        ("seed", np.int64(3), None),
        ("seed", 1.5, TypeError),
        ("seed", -1, ValueError),
        ("n_samples", 1.5, TypeError),
        ("n_samples", 0, ValueError),
        ("batch_size", 0, ValueError),
        ("batch_size", -4, ValueError),
    ],
)
def test_predict_arguments_are_checked(model, query, argument, value, error):
    if error is None:
        assert model.predict(query, "IFNB", inplace=False, **{argument: value}) is not None
        return
    with pytest.raises(error, match=argument):
        model.predict(query, "IFNB", **{argument: value})
    assert "calmflow" not in query.layers


# ---------------------------------------------------------------- conditions
@pytest.mark.parametrize("perturbation", ["", "  ", None, "IFNB+", "+TNF"])
def test_empty_perturbation_is_refused(model, query, perturbation):
    with pytest.raises(ValueError, match="perturbation"):
        model.predict(query, perturbation=perturbation)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (("control", "IL4", "IL4+"), "empty component"),
        (("control", "TNF+IFNB", "IFNB+TNF"), "several ways"),
        (("control", "IL4", "IL4 "), "several ways"),
    ],
)
def test_ambiguous_labels_are_refused_at_setup(labels, match):
    adata = gen_adata(conditions=labels)
    with pytest.raises(ValueError, match=match):
        setup(adata)


@pytest.mark.parametrize("prompt_encoder", ["components", "lm"])
def test_combination_in_another_order_gets_the_trained_prompt(prompt_encoder):
    adata = gen_adata(conditions=("control", "IFNB", "TNF", "IL4", "TNF+IFNB"))
    setup(adata)
    model = CaLMFlowPerturb(adata, prompt_encoder=prompt_encoder, **TINY_MODEL)
    fit(model, max_epochs=1)
    query = adata[adata.obs["condition"] == "control"].copy()
    one = model.predict(query, "TNF+IFNB", inplace=False).X
    other = model.predict(query, "IFNB+TNF", inplace=False).X
    np.testing.assert_array_equal(one, other)
    # a pair never trained: both orders are one input too
    new = model.predict(query, "TNF+IL4", inplace=False).X
    np.testing.assert_array_equal(new, model.predict(query, "IL4+TNF", inplace=False).X)


def test_empty_categories_are_named_at_setup():
    adata = gen_adata()
    adata.obs["condition"] = adata.obs["condition"].cat.add_categories(["IL4"])
    with pytest.warns(UserWarning, match=r"categories without cells: \['IL4'\]"):
        setup(adata)


def test_cell_types_without_controls_are_named():
    adata = gen_adata()
    keep = ~((adata.obs["cell_type"] == "B cell") & (adata.obs["condition"] == "control"))
    adata = adata[keep.to_numpy()].copy()
    setup(adata)
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with pytest.warns(UserWarning, match="no control cells.*B cell"):
        fit(model, max_epochs=1)


# ---------------------------------------------------------------- continued training
class RecordMode(Callback):
    def __init__(self):
        self.modes = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.modes.append(pl_module.module.training)


class Interrupt(Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 2:
            raise KeyboardInterrupt


def test_continued_training_runs_in_train_mode():
    model = new_model()
    fit(model, max_epochs=1)
    recorder = RecordMode()
    fit(model, max_epochs=1, callbacks=[recorder])
    assert recorder.modes and all(recorder.modes)
    assert not model.module.training  # back in eval mode for prediction


def test_ctrl_c_keeps_a_usable_model(query):
    model = new_model()
    with pytest.warns(UserWarning, match="interrupted after 2 finished epoch"):
        fit(model, max_epochs=10, callbacks=[Interrupt()])
    assert model.is_trained_
    model.predict(query, perturbation="IFNB")
    assert np.isfinite(query.layers["calmflow"]).all()


def test_max_epochs_zero_is_refused():
    model = new_model()
    with pytest.raises(ValueError, match="max_epochs"):
        fit(model, max_epochs=0)
    assert not model.is_trained_


def test_rollout_builds_no_autograd_graph(model):
    """Prediction memory must not grow with the query (no graph kept across batches)."""
    ids, mask = model.condition_prompts(model.adata.obs.iloc[:1].assign(condition="IFNB"))
    source = torch.zeros(1, 1, model.module.n_components)
    assert not model.module.rollout(ids, mask, source).requires_grad


# ---------------------------------------------------------------- checkpoints and resume
class StopAt(Callback):
    """Ctrl-C at the start of an epoch."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == self.epoch:
            raise KeyboardInterrupt


class FirstStep(Callback):
    """The optimizer's step count and learning rate at the first step of a run."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0 and not hasattr(self, "lr"):
            optimizer = trainer.optimizers[0]
            self.lr = optimizer.param_groups[0]["lr"]
            steps = [float(s["step"]) for s in optimizer.state.values() if "step" in s]
            self.steps = max(steps) if steps else 0.0


def test_interrupted_run_resumes_with_its_optimizer_schedule_and_history(tmp_path):
    from calmflow_sc._saving._training_state import read_training_state
    from calmflow_sc.train import warmup_cosine

    checkpoint = tmp_path / "ckpt"
    model = new_model()
    with pytest.warns(UserWarning, match="interrupted"):
        fit(model, max_epochs=5, checkpoint_dir=checkpoint, callbacks=[StopAt(3)])
    state = read_training_state(checkpoint)
    assert state["finished_epochs"] == 3 and state["max_epochs"] == 5
    assert state["global_step"] > 0 and state["planned_steps"] > state["global_step"]

    resumed = new_model()  # a new session: nothing but the checkpoint and the data
    probe = FirstStep()
    fit(resumed, max_epochs=None, checkpoint_dir=checkpoint, resume=True, callbacks=[probe])
    assert probe.steps == state["global_step"]  # AdamW's moments continue
    expected = 1e-3 * warmup_cosine(
        state["global_step"], state["planned_steps"], max(1, round(0.05 * state["planned_steps"]))
    )
    assert probe.lr == pytest.approx(expected, rel=1e-6)  # the schedule continues
    assert len(resumed.history_["elbo_train"]) == 5
    np.testing.assert_array_equal(resumed.train_indices_, state["split"][0])
    assert read_training_state(checkpoint)["finished_epochs"] == 5
    loaded = CaLMFlowPerturb.load(checkpoint, accelerator="cpu")  # a checkpoint is a model
    assert loaded.is_trained_


def test_resume_needs_a_training_checkpoint(model, tmp_path):
    from calmflow_sc import CheckpointError

    model.save(tmp_path / "plain")
    with pytest.raises(CheckpointError, match="without training state"):
        fit(new_model(), checkpoint_dir=tmp_path / "plain", resume=True)
    with pytest.raises(ValueError, match="needs checkpoint_dir"):
        fit(new_model(), resume=True)
