from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup, trained_model


@pytest.fixture(scope="module")
def adata():
    data = gen_adata()
    setup(data, covariate_keys=["donor"])
    return data


@pytest.fixture(scope="module", params=["control", "gaussian"])
def model(request, adata):
    return trained_model(adata, source=request.param)


def controls(adata):
    return adata[adata.obs["condition"] == "control"].copy()


def test_train_records_history_and_losses(model):
    assert model.is_trained_
    history = model.history
    assert {"train_loss", "validation_loss", "reconstruction_loss_train"} <= set(history)
    assert np.isfinite(history["train_loss"].to_numpy(dtype=float)).all()
    assert "source=" in model._model_summary_string


def test_predict_writes_documented_keys(model, adata):
    query = controls(adata)
    before_obs, before_layers = query.obs.copy(), set(query.layers)
    model.predict(query, perturbation="IFNB", key_added="pred")
    assert set(query.layers) - before_layers == {"pred"}
    assert query.layers["pred"].shape == query.shape
    assert np.isfinite(query.layers["pred"]).all() and (query.layers["pred"] >= 0).all()
    assert query.obsm["X_pred"].shape == (query.n_obs, model.module.n_components)
    assert query.uns["pred_params"]["perturbation"] == "IFNB"
    pd.testing.assert_frame_equal(query.obs, before_obs)


def test_predict_is_seeded_and_not_inplace_returns_new_anndata(model, adata):
    query = controls(adata)
    a = model.predict(query, perturbation="TNF", inplace=False, seed=1)
    b = model.predict(query, perturbation="TNF", inplace=False, seed=1)
    c = model.predict(query, perturbation="TNF", inplace=False, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    assert "calmflow" not in query.layers
    assert (a.obs["condition"] == "TNF").all()
    np.testing.assert_array_equal(a.obs_names, query.obs_names)


def test_cache_and_recomputation_give_the_same_prediction(model, adata):
    query = controls(adata)[:20].copy()
    cached = model.predict(query, perturbation="IFNB", inplace=False)
    recomputed = model.predict(query, perturbation="IFNB", inplace=False, use_cache=False)
    np.testing.assert_allclose(cached.X, recomputed.X, atol=1e-4)


def test_unseen_combination_and_unseen_pair_work(model, adata):
    query = controls(adata)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # composed from trained components (the default prompt): nothing unknown to warn of
        model.predict(query, perturbation="IFNB+TNF", key_added="pair")
    assert not [w for w in caught if "never seen" in str(w.message)]
    assert np.isfinite(query.layers["pair"]).all()
    new_type = query[:10].copy()
    new_type.obs["cell_type"] = "dendritic cell"
    with pytest.warns(UserWarning, match="never seen"):
        model.predict(new_type, perturbation="IFNB")
    assert new_type.layers["calmflow"].shape == new_type.shape


def test_generate_one_cell_per_row(model):
    obs = pd.DataFrame(
        {
            "condition": ["IFNB", "control", "TNF"],
            "cell_type": ["B cell", "T cell", "monocyte"],
            "donor": ["d1", "d2", "d1"],
        }
    )
    generated = model.generate(obs, seed=0)
    assert generated.shape == (3, 40)
    assert list(generated.obs["condition"]) == ["IFNB", "control", "TNF"]
    np.testing.assert_array_equal(generated.X, model.generate(obs, seed=0).X)
    assert np.isfinite(generated.X).all()


def test_save_load_round_trip_gives_identical_predictions(model, adata, tmp_path):
    query = controls(adata)
    before = model.predict(query, perturbation="IFNB", inplace=False, seed=5)
    model.save(tmp_path / "m", overwrite=True)
    loaded = CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    assert loaded.adata is None and loaded.is_trained_
    after = loaded.predict(query, perturbation="IFNB", inplace=False, seed=5)
    np.testing.assert_array_equal(before.X, after.X)
    with_data = CaLMFlowPerturb.load(tmp_path / "m", adata=adata, accelerator="cpu")
    again = with_data.predict(query, perturbation="IFNB", inplace=False, seed=5)
    np.testing.assert_array_equal(before.X, again.X)


def test_control_source_starts_from_the_given_cell(adata):
    model = trained_model(adata, source="control", max_epochs=1)
    query = controls(adata)[:30].copy()
    states = model.module.representation.transform_matrix(query.X)
    assert torch.is_tensor(states)
    ids, mask = model.condition_prompts(query.obs.assign(condition="IFNB"))
    rollout = model.module.rollout(ids, mask, states[:, None], generator=torch.Generator())
    torch.testing.assert_close(rollout[:, 0, 0], states)


def test_multi_trajectory_model_trains_and_predicts(adata):
    model = trained_model(adata, n_trajectories=3, n_spatial_tokens=2, max_epochs=1)
    query = controls(adata)
    model.predict(query, perturbation="TNF")
    assert query.layers["calmflow"].shape == query.shape
    assert np.isfinite(query.layers["calmflow"]).all()


def test_too_many_components_are_reduced_with_a_warning():
    small = gen_adata(n_cells=20, n_genes=40)
    setup(small)
    with pytest.warns(UserWarning, match="n_components"):
        model = CaLMFlowPerturb(small, **(TINY_MODEL | {"n_components": 30}))
    assert model.module.n_components == 19
    assert model.init_params_["non_kwargs"]["n_components"] == 19


def test_setup_writes_only_the_documented_keys():
    data = gen_adata(n_cells=60)
    before_obs, before_obsm = set(data.obs.columns), set(data.obsm)
    before_uns, before_layers = set(data.uns), set(data.layers)
    x = data.X.copy()
    setup(data, covariate_keys=["donor"])
    assert set(data.obs.columns) - before_obs == {"_scvi_perturbation", "_scvi_cell_type"}
    assert set(data.obsm) - before_obsm == {"_scvi_covariates"}
    assert set(data.uns) - before_uns == {"_scvi_uuid", "_scvi_manager_uuid"}
    assert set(data.layers) == before_layers
    assert (x != data.X).nnz == 0


def test_mixed_precision_training_on_cpu(adata):
    model = trained_model(adata, max_epochs=1, precision="bf16-mixed")
    assert np.isfinite(model.history["train_loss"].to_numpy(dtype=float)).all()
    query = controls(adata)[:10].copy()
    model.predict(query, perturbation="IFNB")
    assert np.isfinite(query.layers["calmflow"]).all()


def test_control_source_trains_on_perturbed_targets_only(adata):
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    builder, targets = model._fit_to_training_cells()
    perturbed = np.flatnonzero((adata.obs["condition"] != "control").to_numpy())
    np.testing.assert_array_equal(targets, perturbed)
    train, validation, rest = model._split(targets, adata.n_obs, 0.8)
    assert len(train) == int(np.ceil(0.8 * len(perturbed)))
    assert set(train) | set(validation) == set(perturbed)
    assert set(rest) == set(range(adata.n_obs)) - set(perturbed)
    gaussian = CaLMFlowPerturb(adata, **(TINY_MODEL | {"source": "gaussian"}))
    assert len(gaussian._fit_to_training_cells()[1]) == adata.n_obs
    # the sequences of a minibatch of targets end at those targets, in model space
    batch = builder(targets[:6])
    expected = model.module.representation.transform(
        torch.as_tensor(adata.X[targets[:6]].toarray())
    )
    torch.testing.assert_close(batch["states"][:, -1, 0], expected)


def test_no_perturbation_leaves_control_cells_unchanged(adata):
    model = trained_model(adata, source="control", max_epochs=1)
    query = controls(adata)[:15].copy()
    out = model.predict(query, perturbation="control", inplace=False)
    np.testing.assert_allclose(out.X, query.X.toarray(), atol=1e-5)
