"""Training, prediction, the rollout cache, saving and mixed precision on a CUDA GPU.

Skipped without CUDA; ``benchmarks/gpu_suite.sh`` runs them on the GPU machine
(``python -m pytest -m gpu tests/test_gpu.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def adata():
    data = gen_adata(n_cells=480, n_genes=60)
    setup(data)
    return data


@pytest.fixture(scope="module")
def gpu_model(adata):
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model.train(
        max_epochs=3,
        accelerator="gpu",
        devices=1,
        precision="bf16-mixed",
        enable_progress_bar=False,
    )
    return model


@pytest.fixture
def controls(adata):
    return adata[(adata.obs["condition"] == "control").to_numpy()].copy()


def test_training_in_bf16_on_the_gpu_is_finite_and_leaves_weights_on_it(gpu_model):
    losses = gpu_model.history["elbo_train"].to_numpy()
    assert np.isfinite(losses).all() and len(losses) == 3
    assert next(gpu_model.module.parameters()).device.type == "cuda"
    assert next(gpu_model.module.parameters()).dtype == torch.float32  # autocast, fp32 weights


def test_prediction_on_the_gpu_with_and_without_the_rollout_cache(gpu_model, controls):
    cached = gpu_model.predict(controls, "IFNB", inplace=False, use_cache=True)
    full = gpu_model.predict(controls, "IFNB", inplace=False, use_cache=False)
    assert np.isfinite(cached.X).all()
    np.testing.assert_allclose(cached.X, full.X, atol=2e-3)
    again = gpu_model.predict(controls, "IFNB", inplace=False, use_cache=True)
    np.testing.assert_array_equal(cached.X, again.X)  # seeded noise, same on the GPU


def test_a_model_saved_on_the_gpu_loads_and_predicts_on_the_cpu(gpu_model, controls, tmp_path):
    on_gpu = gpu_model.predict(controls, "IFNB", inplace=False)
    gpu_model.save(tmp_path / "model")
    cpu_model = CaLMFlowPerturb.load(tmp_path / "model", accelerator="cpu")
    assert next(cpu_model.module.parameters()).device.type == "cpu"
    on_cpu = cpu_model.predict(controls, "IFNB", inplace=False)
    np.testing.assert_allclose(on_cpu.X, on_gpu.X, atol=2e-3)


def test_generation_on_the_gpu(gpu_model, adata):
    obs = adata.obs.iloc[:16][["condition", "cell_type"]].copy()
    obs["condition"] = "IFNB+TNF"
    generated = gpu_model.generate(obs)
    assert generated.shape == (16, adata.n_vars) and np.isfinite(generated.X).all()
