"""Encoding each distinct prompt once and broadcasting its cache is exact."""

from __future__ import annotations

import pytest
import torch

from calmflow_sc.module import CaLMFlowModule, sequence_hidden, whole_sequence_hidden
from calmflow_sc.nn import CausalLMBackbone, default_backbone_config

PROMPTS = [
    "Generate a cell: ",
    "Generate a CD14+ monocyte cell (donor: 101) under IFNB and TNF: ",
    "Generate a T cell under IL4: ",
]


def module_with_prompts(s: int, p: int, causal_context: str = "full") -> CaLMFlowModule:
    torch.manual_seed(0)
    backbone = CausalLMBackbone(default_backbone_config(n_layers=2, hidden_size=32, n_heads=2))
    ids, mask = backbone.tokenize(PROMPTS)
    module = CaLMFlowModule(
        n_genes=5,
        n_components=4,
        backbone=backbone,
        prompt_inputs=ids,
        prompt_mask=mask,
        context_sizes=[3],
        n_steps=3,
        n_spatial_tokens=s,
        n_trajectories=p,
        n_latent=3,
        causal_context=causal_context,
    )
    return module.eval()


@pytest.mark.parametrize("causal_context", ["full", "current"])
@pytest.mark.parametrize(("s", "p"), [(1, 1), (2, 3)])
def test_cached_prompts_give_the_outputs_of_whole_sequences(causal_context, s, p):
    module = module_with_prompts(s, p, causal_context)
    condition = torch.tensor([1, 0, 1, 2, 1, 0])
    ids, mask = module.prompt_inputs[condition], module.prompt_mask[condition]
    states = torch.randn(len(condition), 3, p, 4)
    whole = whole_sequence_hidden(module, ids, mask, states)
    cached = sequence_hidden(module, ids, mask, states)
    torch.testing.assert_close(cached, whole, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("causal_context", ["full", "current"])
def test_training_loss_and_gradients_are_those_of_whole_sequences(causal_context):
    module = module_with_prompts(2, 2, causal_context)
    batch = {"states": torch.randn(6, 4, 2, 4), "condition": torch.tensor([2, 0, 2, 1, 1, 2])}

    def gradients(loss: torch.Tensor) -> dict[str, torch.Tensor]:
        module.zero_grad()
        loss.backward()
        return {n: q.grad.clone() for n, q in module.named_parameters() if q.grad is not None}

    _, _, output = module(batch)
    cached = gradients(output.loss)

    states, condition = batch["states"], batch["condition"]
    hidden = whole_sequence_hidden(
        module, module.prompt_inputs[condition], module.prompt_mask[condition], states[:, :-1]
    )
    inference = {"states": states, "sample": module.head.encode(hidden, temperature=0.0)}
    reference = module.loss(batch, inference, module.generative(inference["sample"].z, states))
    whole = gradients(reference.loss)

    torch.testing.assert_close(output.loss, reference.loss, atol=1e-5, rtol=1e-5)
    assert cached.keys() == whole.keys()
    assert "prompt_tokens.rows" in cached  # the prompt's own rows learn
    for name in whole:
        torch.testing.assert_close(cached[name], whole[name], atol=1e-5, rtol=1e-4, msg=name)
