"""Models set up with a dose column: conditions, scaled codes, prediction, saving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from anndata import AnnData

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup, trained_model

CONDITIONS = ("control", "IFNB", "TNF", "IFNB+TNF")


def dosed_adata(seed: int = 0):
    """Helper data with a dose per cell: 0 for controls, 1 or 3 for the rest."""
    adata = gen_adata(conditions=CONDITIONS, seed=seed)
    rng = np.random.default_rng(seed)
    perturbed = adata.obs["condition"].astype(str) != "control"
    adata.obs["dose"] = np.where(perturbed, rng.choice([1.0, 3.0], adata.n_obs), 0.0)
    return adata


@pytest.fixture(scope="module")
def dosed():
    adata = dosed_adata()
    setup(adata, dose_key="dose")
    torch.manual_seed(0)
    model = trained_model(adata, prompt_encoder="components")
    controls = adata[adata.obs["condition"] == "control"].copy()
    return model, adata, controls


def test_setup_registers_the_doses_and_keeps_the_column(dosed):
    model, adata, _ = dosed
    assert model.dose_levels == ["0", "1", "3"]
    assert adata.obs["dose"].dtype == np.float64  # the user's column is untouched


def test_a_dose_scales_its_components_code(dosed):
    model, _, _ = dosed
    encoder = model.condition_prompts
    features = encoder.perturbation_features(
        ["IFNB", "IFNB", "IFNB+TNF", "TNF+IFNB", "IFNB+TNF"], ["1", "2.5", "1+3", "3+1", "3+1"]
    )
    n = encoder.n_codes
    assert torch.allclose(features[1, :n], 2.5 * features[0, :n])
    assert torch.equal(features[2], features[3])  # the doses follow their components
    assert not torch.equal(features[2], features[4])
    ifnb, tnf = encoder.trained_components.index("IFNB"), encoder.trained_components.index("TNF")
    assert features[2, ifnb].item() == 1.0 and features[2, tnf].item() == 3.0
    assert features[2, n].item() == 2.0  # the count is not scaled


def test_cells_at_different_doses_are_different_conditions(dosed):
    model, adata, _ = dosed
    obs = adata.obs
    inputs, _ = model.condition_prompts(obs)
    low = np.flatnonzero((obs["condition"] == "IFNB").to_numpy() & (obs["dose"] == 1).to_numpy())
    high = np.flatnonzero((obs["condition"] == "IFNB").to_numpy() & (obs["dose"] == 3).to_numpy())
    assert not torch.equal(inputs[low[0]], inputs[high[0]])


@pytest.mark.parametrize("prompt_encoder", ["lm", "onehot", "components"])
def test_training_and_prediction_agree_on_every_dosed_condition(prompt_encoder):
    adata = dosed_adata()
    setup(adata, dose_key="dose")
    model = CaLMFlowPerturb(adata, prompt_encoder=prompt_encoder, **TINY_MODEL)
    builder, _ = model._fit_to_training_cells()
    module = model.module
    rows = np.asarray(builder.conditions)
    trained = module.prompt_inputs[rows]
    predicted, mask = model.condition_prompts(adata.obs)
    if prompt_encoder == "lm":  # same ids under the same mask (padding may differ)
        trained_mask = module.prompt_mask[rows]
        for a, ma, b, mb in zip(trained, trained_mask, predicted, mask, strict=True):
            assert a[ma.bool()].tolist() == b[mb.bool()].tolist()
    else:
        n_text = trained.shape[1] - predicted.shape[1]
        assert torch.equal(trained[:, n_text:] if n_text else trained, predicted)


def test_predict_reads_the_dose_in_the_order_the_perturbation_names_it(dosed):
    model, _, controls = dosed
    first = model.predict(controls, "IFNB+TNF", dose="1+3", inplace=False)
    second = model.predict(controls, "TNF+IFNB", dose="3+1", inplace=False)
    third = model.predict(controls, "IFNB+TNF", dose={"TNF": 3, "IFNB": 1}, inplace=False)
    np.testing.assert_array_equal(first.X, second.X)
    np.testing.assert_array_equal(first.X, third.X)
    other = model.predict(controls, "IFNB+TNF", dose="3+1", inplace=False)
    assert not np.array_equal(first.X, other.X)
    assert first.uns["calmflow_params"]["dose"] == "1+3"
    assert (first.obs["dose"] == "1+3").all() and (controls.obs["dose"] == 0).all()
    # a dose never trained is read on the scale of the trained ones
    between = model.predict(controls, "IFNB", dose=2, inplace=False)
    assert np.isfinite(between.X).all()


def test_predict_asks_for_a_dose_and_refuses_a_bad_one(dosed):
    model, _, controls = dosed
    with pytest.raises(ValueError, match="pass the dose"):
        model.predict(controls, "IFNB", inplace=False)
    with pytest.raises(ValueError, match="one per component"):
        model.predict(controls, "IFNB", dose="1+2", inplace=False)
    with pytest.raises(ValueError, match="finite number"):
        model.predict(controls, "IFNB", dose="high", inplace=False)
    assert "calmflow" not in controls.layers  # nothing was written


def test_a_model_without_doses_refuses_one():
    model = trained_model(max_epochs=1)
    adata = gen_adata()
    with pytest.raises(ValueError, match="without a dose_key"):
        model.predict(adata[:5].copy(), "IFNB", dose=1, inplace=False)


def test_generate_and_prompts_read_the_dose_column(dosed):
    model, _, _ = dosed
    frame = pd.DataFrame(
        {"condition": ["IFNB", "IFNB"], "cell_type": ["B cell"] * 2, "dose": [1, 3]},
        index=["a", "b"],
    )
    cells = model.generate(frame)
    assert cells.n_obs == 2 and not np.array_equal(cells.X[0], cells.X[1])
    with pytest.raises(KeyError, match="dose"):
        model.generate(frame.drop(columns="dose"))
    prompts = model.prompts(frame)
    assert prompts.str.endswith("[IFNB x1]").iloc[0] and prompts.str.endswith("[IFNB x3]").iloc[1]


def test_setup_refuses_missing_or_malformed_doses():
    adata = dosed_adata()
    adata.obs.loc[adata.obs["condition"] == "control", "dose"] = np.nan
    with pytest.raises(ValueError, match="0 for the control cells"):
        setup(adata, dose_key="dose")
    assert "_scvi_perturbation" not in adata.obs  # nothing was registered
    with pytest.raises(KeyError, match="dose_key='strength'"):
        setup(dosed_adata(), dose_key="strength")


def test_a_saved_dosed_model_predicts_the_same_after_load(dosed, tmp_path):
    model, adata, controls = dosed
    model.save(tmp_path / "dosed")
    loaded = CaLMFlowPerturb.load(tmp_path / "dosed", adata=adata)
    assert loaded.dose_levels == model.dose_levels
    before = model.predict(controls, "IFNB", dose=3, inplace=False)
    after = loaded.predict(controls, "IFNB", dose=3, inplace=False)
    np.testing.assert_allclose(before.X, after.X, rtol=1e-5, atol=1e-6)


def test_a_larger_dose_moves_cells_further():
    """Genes 0-4 shift by the dose under A: the predicted shift follows the dose."""
    rng = np.random.default_rng(0)
    n_cells, n_genes = 600, 30
    perturbation = rng.choice(["control", "A", "B"], n_cells)
    dose = np.where(perturbation == "control", 0.0, rng.choice([1.0, 3.0], n_cells))
    expression = rng.normal(2.0, 0.3, (n_cells, n_genes))
    expression[perturbation == "A", :5] += dose[perturbation == "A", None]
    expression[perturbation == "B", 5:10] += dose[perturbation == "B", None]
    obs = pd.DataFrame(
        {"condition": perturbation, "dose": dose}, index=[f"c{i}" for i in range(n_cells)]
    )
    adata = AnnData(expression.astype(np.float32), obs=obs)
    CaLMFlowPerturb.setup_anndata(adata, dose_key="dose")
    torch.manual_seed(0)
    model = CaLMFlowPerturb(adata, n_components=10)  # the default network
    model.train(max_epochs=30, accelerator="cpu", enable_progress_bar=False)
    controls = adata[adata.obs["condition"] == "control"].copy()
    shift = {
        d: model.predict(controls, "A", dose=d, inplace=False).X[:, :5].mean()
        - controls.X[:, :5].mean()
        for d in (1, 2, 3)
    }
    assert 0.5 < shift[1] < shift[2] < shift[3]
    assert shift[3] > 2 * shift[1]
