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
    codes = torch.as_tensor(np.concatenate(codes, axis=1), dtype=torch.long)
    contexts = model.module.context_index(codes).numpy()
    return perturbation * model.module.n_contexts + contexts


def unpadded(inputs: torch.Tensor, mask: torch.Tensor) -> list[list[float]]:
    """Token ids without their padding; feature vectors (one-hot codes) as they are."""
    if inputs.is_floating_point():
        return inputs.tolist()
    return [row[m.bool()].tolist() for row, m in zip(inputs, mask, strict=True)]


@pytest.mark.parametrize("prompt_encoder", ["lm", "onehot"])
@pytest.mark.parametrize("covariates", [None, ["donor"]])
def test_every_registered_condition_gets_the_same_prompt_in_training_and_prediction(
    prompt_encoder, covariates
):
    adata = gen_adata(conditions=("control", "IFNB", "TNF", "IFNB+TNF"))
    setup(adata, covariate_keys=covariates)
    model = CaLMFlowPerturb(adata, prompt_encoder=prompt_encoder, **TINY_MODEL)
    rows = training_rows(model, adata)
    trained = unpadded(model.module.prompt_inputs[rows], model.module.prompt_mask[rows])
    predicted = unpadded(*model._prompt_inputs(adata.obs))
    assert trained == predicted
