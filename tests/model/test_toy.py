"""The method learns: 8 Gaussians -> two moons, as in the paper's 2-D toy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scvi
from anndata import AnnData
from sklearn.datasets import make_moons

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.metrics import energy_distance

OFFSET = 8.0  # keep coordinates positive, as log-normalised expression is


def eight_gaussians(n: int, rng: np.random.Generator) -> np.ndarray:
    angles = rng.integers(0, 8, n) * np.pi / 4
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres + 0.3 * rng.normal(size=(n, 2))


def toy_adata(n: int = 500, seed: int = 0) -> AnnData:
    rng = np.random.default_rng(seed)
    moons = make_moons(n, noise=0.05, random_state=seed)[0] * 3.0 - np.array([1.5, 0.75])
    x = np.concatenate([eight_gaussians(n, rng), moons]) + OFFSET
    obs = pd.DataFrame(
        {"condition": ["control"] * n + ["moons"] * n},
        index=[f"c{i}" for i in range(2 * n)],
    )
    return AnnData(x.astype(np.float32), obs=obs, var=pd.DataFrame(index=["x", "y"]))


@pytest.fixture(scope="module")
def toy():
    adata = toy_adata()
    CaLMFlowPerturb.setup_anndata(adata, perturbation_key="condition", control_value="control")
    return adata


def make_model(adata: AnnData) -> CaLMFlowPerturb:
    return CaLMFlowPerturb(
        adata,
        n_components=2,
        n_steps=4,
        n_layers=2,
        hidden_size=32,
        n_heads=2,
        n_latent=4,
        dropout=0.0,
    )


def test_brief_training_moves_gaussians_onto_the_moons(toy):
    scvi.settings.seed = 0
    controls = toy[toy.obs["condition"] == "control"].copy()
    target = toy[toy.obs["condition"] == "moons"].X

    untrained = make_model(toy)
    untrained._fit_to_training_cells()
    untrained.is_trained_ = True
    before = untrained.predict(controls, perturbation="moons", inplace=False).X

    trained = make_model(toy)
    trained.train(
        max_epochs=60, batch_size=128, accelerator="cpu", enable_progress_bar=False, lr=3e-3
    )
    after = trained.predict(controls, perturbation="moons", inplace=False, temperature=0.5).X

    distance_before = energy_distance(before, target)
    distance_after = energy_distance(after, target)
    assert distance_after < 0.35 * distance_before, (distance_before, distance_after)
    # the samples land on the moons: most are near some target point
    nearest = np.sqrt(((after[:, None] - target[None]) ** 2).sum(-1)).min(1)
    assert np.median(nearest) < 0.5
    # without a cell-type key, generated cells start from any control cell
    generated = trained.generate(pd.DataFrame({"condition": ["moons"] * 50}), temperature=0.5)
    assert generated.shape == (50, 2)
    assert energy_distance(generated.X, target) < 0.5 * distance_before
