"""Training and prediction must give a condition the same prompt input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from calmflow_sc import CaLMFlowPerturb
from helpers import TINY_MODEL, gen_adata, setup


def training_rows(model: CaLMFlowPerturb, adata) -> np.ndarray:
    """Row of the module's prompt table that training uses for each cell."""
    perturbation = adata.obs["_scvi_perturbation"].to_numpy().astype(np.int64)
    codes = [adata.obs["_scvi_cell_type"].to_numpy().reshape(-1, 1)]
    if "_scvi_covariates" in adata.obsm:
        codes.append(np.asarray(adata.obsm["_scvi_covariates"]))
    sizes = model.module.context_sizes  # the mixed-radix context index, written out
    radix = np.cumprod([1, *sizes[::-1]])[:-1][::-1]
    contexts = (np.concatenate(codes, axis=1).astype(np.int64) * radix).sum(1)
    return perturbation * model.module.n_contexts + contexts


def unpadded(model: CaLMFlowPerturb, inputs: torch.Tensor, mask: torch.Tensor) -> list[list]:
    """Token ids without their padding, then any feature vector as it is."""
    encoder = model.module.prompt_encoder
    if encoder in ("minilm", "onehot"):
        return inputs.tolist()
    n_features = model.module.n_perturbation_features
    n_text = inputs.shape[1] - n_features
    ids, features = inputs[:, :n_text], inputs[:, n_text:]
    text_mask = mask[:, : ids.shape[1]]
    return [
        row[m.bool()].tolist() + f.tolist()
        for row, m, f in zip(ids, text_mask, features, strict=True)
    ]


@pytest.mark.parametrize("prompt_encoder", ["lm", "onehot", "components"])
@pytest.mark.parametrize("covariates", [None, ["donor"]])
def test_every_registered_condition_gets_the_same_prompt_in_training_and_prediction(
    prompt_encoder, covariates
):
    adata = gen_adata(conditions=("control", "IFNB", "TNF", "IFNB+TNF"))
    setup(adata, covariate_keys=covariates)
    model = CaLMFlowPerturb(adata, prompt_encoder=prompt_encoder, **TINY_MODEL)
    rows = training_rows(model, adata)
    trained = unpadded(model, model.module.prompt_inputs[rows], model.module.prompt_mask[rows])
    predicted = unpadded(model, *model.condition_prompts(adata.obs))
    assert trained == predicted
    # training and prediction read one encoder object
    assert model.condition_prompts.knowledge is model.module.knowledge


@pytest.mark.parametrize("dose_key", [None, "dose"])
@pytest.mark.parametrize("covariates", [None, ["donor"]])
def test_the_condition_space_finds_the_rows_training_uses(covariates, dose_key):
    adata = gen_adata(conditions=("control", "IFNB", "TNF", "IFNB+TNF"))
    perturbed = adata.obs["condition"].astype(str) != "control"
    adata.obs["dose"] = np.where(perturbed, np.resize([1.0, 3.0], adata.n_obs), 0.0)
    setup(adata, covariate_keys=covariates, dose_key=dose_key)
    model = CaLMFlowPerturb(adata, prompt_encoder="components", **TINY_MODEL)
    space = model.condition_space
    registered = space.registered_conditions(model.adata_manager)
    # the registry's codes and the obs columns name the same row of the condition table
    np.testing.assert_array_equal(space.condition_rows(adata.obs), registered.conditions)
    assert len(space.table()) == len(model.module.prompt_inputs) == space.n_conditions
    assert space.context_sizes == model.module.context_sizes
    if dose_key is None:
        np.testing.assert_array_equal(registered.conditions, training_rows(model, adata))
