from __future__ import annotations

import pytest
import torch

from calmflow_sc.module import CaLMFlowModule, next_state, sequence_hidden
from helpers import gen_adata, setup, tiny_module, trained_model


def make_module(**kwargs) -> CaLMFlowModule:
    return tiny_module(n_spatial_tokens=2, n_trajectories=2, **kwargs)


def test_current_context_sees_no_history():
    module = make_module(causal_context="current")
    ids, mask = module.backbone.tokenize(["Generate a B cell under IFNB: "])
    states = torch.randn(1, 3, 2, 4)
    base = sequence_hidden(module, ids, mask, states)
    moved = states.clone()
    moved[0, 1, 0] += 1.0
    changed = (sequence_hidden(module, ids, mask, moved) - base).abs().amax(dim=(-1, -2))[0]
    # only time point 1 changes (both trajectories of it share the block)
    assert changed[0].max() < 1e-6 and changed[2].max() < 1e-6
    assert changed[1].max() > 1e-4
    full = make_module(causal_context="full")
    assert sum(p.numel() for p in full.parameters()) == sum(p.numel() for p in module.parameters())
    full_changed = sequence_hidden(full, ids, mask, moved) - sequence_hidden(
        full, ids, mask, states
    )
    assert full_changed[0, 2].abs().max() > 1e-4  # with history, later states see the change


@torch.no_grad()
def test_current_context_rollout_matches_stepwise_decoding():
    module = make_module(causal_context="current")
    ids, mask = module.backbone.tokenize(["Generate a B cell under IFNB: "])
    source = torch.randn(1, 2, 4)
    states = module.rollout(ids, mask, source, temperature=0.0).clone()
    assert states.shape == (1, 4, 2, 4)
    for t in range(3):
        hidden = sequence_hidden(module, ids, mask, states[:, t : t + 1], first_time=t)
        step, _ = next_state(module, hidden[:, -1], states[:, t], temperature=0.0)
        torch.testing.assert_close(step, states[:, t + 1], atol=1e-5, rtol=1e-5)


def test_deterministic_head_ignores_temperature():
    module = make_module(variational_head=False)
    ids, mask = module.backbone.tokenize(["Generate a B cell under IFNB: "])
    source = torch.randn(3, 2, 4)
    cold = module.rollout(ids.expand(3, -1), mask.expand(3, -1), source, temperature=0.0)
    hot = module.rollout(ids.expand(3, -1), mask.expand(3, -1), source, temperature=5.0)
    torch.testing.assert_close(cold, hot)


def test_model_trains_with_each_ablation():
    adata = gen_adata()
    setup(adata)
    for kwargs in ({"causal_context": "current"}, {"variational_head": False}):
        model = trained_model(adata, **kwargs)
        losses = model.history["kl_local_train"]["kl_local_train"]
        if kwargs.get("variational_head") is False:
            assert float(losses.abs().max()) == 0.0
        ctrl = adata[adata.obs["condition"] == "control"].copy()
        assert model.predict(ctrl, "IFNB", inplace=False).shape == ctrl.shape
    with pytest.raises(ValueError, match="causal_context"):
        trained_model(adata, causal_context="none")
