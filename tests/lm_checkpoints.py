"""Small causal-LM checkpoints, written by the tests themselves with save_pretrained."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPTNeoXConfig, GPTNeoXForCausalLM

from calmflow_sc.nn import load_gpt2_tokenizer


def save_tiny_gpt2(directory: Path) -> Path:
    """A 2-layer GPT-2 of width 48, with the genuine GPT-2 tokenizer."""
    torch.manual_seed(0)
    config = GPT2Config(n_embd=48, n_layer=2, n_head=4, n_positions=256)
    GPT2LMHeadModel(config).save_pretrained(directory)
    load_gpt2_tokenizer().save_pretrained(directory)
    return directory


def save_tiny_pythia(directory: Path) -> Path:
    """A GPT-NeoX with Pythia's structure (rotary on a quarter of each head, parallel
    residual, untied embeddings), only smaller; GPT-2's tokenizer stands in for Pythia's."""
    torch.manual_seed(0)
    config = GPTNeoXConfig(
        vocab_size=50304,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=256,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        max_position_embeddings=256,
    )
    GPTNeoXForCausalLM(config).save_pretrained(directory)
    load_gpt2_tokenizer().save_pretrained(directory)
    return directory
