from __future__ import annotations

import pytest
import torch

from calmflow_sc.nn import CausalLMBackbone, default_backbone_config, load_gpt2_tokenizer


def test_genuine_gpt2_tokenizer_offline():
    tokenizer = load_gpt2_tokenizer()
    assert len(tokenizer) == 50257
    # GPT-2's known ids: "Hello" -> 15496, " world" -> 995
    assert tokenizer("Hello world")["input_ids"] == [15496, 995]
    assert tokenizer.padding_side == "left"


def test_backbone_tokenizes_left_padded_and_runs_on_embeddings():
    backbone = CausalLMBackbone(default_backbone_config(n_layers=1, hidden_size=16, n_heads=2))
    ids, mask = backbone.tokenize(["a", "a much longer prompt"])
    assert mask[0, 0] == 0 and mask[0, -1] == 1 and mask[1].all()
    embeds = backbone.embed_tokens(ids)
    hidden, cache = backbone(embeds, mask, (mask.cumsum(1) - 1).clamp_min(0))
    assert hidden.shape == (2, ids.shape[1], 16) and cache is None
    assert torch.isfinite(hidden).all()


def test_too_long_sequences_are_refused():
    config = default_backbone_config(n_layers=1, hidden_size=16, n_heads=2)
    config.n_positions = 8
    backbone = CausalLMBackbone(config)
    embeds = torch.zeros(1, 10, 16)
    with pytest.raises(ValueError, match="positions"):
        backbone(embeds, torch.ones(1, 10, dtype=torch.long), torch.arange(10)[None])


def test_width_must_divide_heads():
    with pytest.raises(ValueError, match="divisible"):
        default_backbone_config(hidden_size=30, n_heads=4)
