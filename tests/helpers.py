"""Test data and tiny models, made in one place and reused everywhere."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pandas as pd
import torch
from anndata import AnnData
from scipy import sparse

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.module import CaLMFlowModule
from calmflow_sc.nn import CausalLMBackbone, default_backbone_config

TINY_MODEL = {
    "n_components": 8,
    "n_steps": 4,
    "n_layers": 1,
    "hidden_size": 32,
    "n_heads": 2,
    "n_latent": 8,
}


def gen_adata(
    n_cells: int = 240,
    n_genes: int = 40,
    seed: int = 0,
    cell_types: tuple[str, ...] = ("T cell", "B cell", "monocyte"),
    conditions: tuple[str, ...] = ("control", "IFNB", "TNF"),
    donors: tuple[str, ...] = ("d1", "d2"),
) -> AnnData:
    """Small log-normalised perturbation data: each condition shifts its own genes."""
    rng = np.random.default_rng(seed)
    # every value occurs once n_cells reaches the number of values
    cell_type = rng.permutation(np.resize(np.asarray(cell_types), n_cells))
    condition = rng.permutation(np.resize(np.asarray(conditions), n_cells))
    donor = rng.permutation(np.resize(np.asarray(donors), n_cells))
    rate = np.full((n_cells, n_genes), 1.0)
    for i, name in enumerate(cell_types):
        rate[cell_type == name, i * 3 : i * 3 + 3] += 3.0
    for i, name in enumerate(conditions[1:]):
        for part in name.split("+"):
            j = conditions.index(part) if part in conditions else i + 1
            rate[condition == name, 20 + j * 4 : 24 + j * 4] += 4.0
    counts = rng.poisson(rate).astype(np.float32)
    expression = np.log1p(counts / counts.sum(1, keepdims=True) * 100)
    obs = pd.DataFrame(
        {"condition": condition, "cell_type": cell_type, "donor": donor},
        index=[f"cell{i}" for i in range(n_cells)],
    ).astype("category")
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    return AnnData(sparse.csr_matrix(expression), obs=obs, var=var)


def setup(adata: AnnData, **kwargs) -> None:
    """Register the helper data's columns."""
    kwargs.setdefault("cell_type_key", "cell_type")
    CaLMFlowPerturb.setup_anndata(
        adata, perturbation_key="condition", control_value="control", **kwargs
    )


def trained_model(
    adata: AnnData | None = None, max_epochs: int = 2, precision: str | None = None, **kwargs
) -> CaLMFlowPerturb:
    """A tiny model trained briefly on the helper data."""
    if adata is None:
        adata = gen_adata()
        setup(adata)
    model = CaLMFlowPerturb(adata, **(TINY_MODEL | kwargs))
    extra = {"precision": precision} if precision is not None else {}
    model.train(max_epochs=max_epochs, accelerator="cpu", enable_progress_bar=False, **extra)
    return model


def tiny_module(
    n_spatial_tokens: int, n_trajectories: int, n_steps: int = 3, **kwargs
) -> CaLMFlowModule:
    """A small seeded module in eval mode, for one condition."""
    torch.manual_seed(0)
    backbone = CausalLMBackbone(default_backbone_config(n_layers=2, hidden_size=32, n_heads=2))
    ids, mask = backbone.tokenize(["Generate a cell under no perturbation: "])
    module = CaLMFlowModule(
        n_genes=5,
        n_components=4,
        backbone=backbone,
        prompt_inputs=ids,
        prompt_mask=mask,
        context_sizes=[1],
        n_steps=n_steps,
        n_spatial_tokens=n_spatial_tokens,
        n_trajectories=n_trajectories,
        n_latent=3,
        **kwargs,
    )
    return module.eval()


def malicious_pickle(marker) -> bytes:
    """A pickle whose loading creates the file ``marker`` (through ``os.system``)."""

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps({"model_state_dict": Exploit()})
