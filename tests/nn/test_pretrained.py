from __future__ import annotations

import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from calmflow_sc.nn import CausalLMBackbone, LanguageModelNotFoundError
from lm_checkpoints import save_tiny_gpt2, save_tiny_pythia


@pytest.mark.parametrize(
    ("save", "model_type"), [(save_tiny_gpt2, "gpt2"), (save_tiny_pythia, "gpt_neox")]
)
def test_loads_weights_and_tokenizer_from_a_directory(tmp_path, save, model_type):
    directory = save(tmp_path / model_type)
    backbone = CausalLMBackbone.from_pretrained(directory)
    assert backbone.config.model_type == model_type
    saved = AutoModelForCausalLM.from_pretrained(directory).get_input_embeddings().weight
    torch.testing.assert_close(backbone.transformer.get_input_embeddings().weight, saved)
    ids, mask = backbone.tokenize(["Generate a B cell under IFNB: ", "hi"])
    assert ids.shape == mask.shape and mask[1, 0] == 0  # left padding
    hidden, _ = backbone(backbone.embed_tokens(ids), mask, (mask.cumsum(1) - 1).clamp_min(0))
    assert hidden.shape == (*ids.shape, backbone.hidden_size)
    # without weights: same architecture, fresh parameters
    bare = CausalLMBackbone.from_pretrained(directory, load_weights=False)
    assert not torch.equal(bare.transformer.get_input_embeddings().weight, saved)


def test_offline_missing_model_explains_how_to_get_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(LanguageModelNotFoundError, match="save_pretrained") as info:
        CausalLMBackbone.from_pretrained("EleutherAI/pythia-not-on-this-machine")
    assert "HF_HUB_OFFLINE" in str(info.value)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_directory_without_tokenizer(tmp_path):
    directory = save_tiny_gpt2(tmp_path / "lm")
    for path in directory.iterdir():
        if path.name.startswith(("tokenizer", "vocab", "merges", "special")):
            path.unlink()
    with pytest.raises(LanguageModelNotFoundError, match="tokenizer"):
        CausalLMBackbone.from_pretrained(directory)


def test_directory_with_corrupt_config_says_so(tmp_path):
    directory = save_tiny_gpt2(tmp_path / "lm")
    (directory / "config.json").write_text("{ not json")
    with pytest.raises(LanguageModelNotFoundError, match="exists but could not be read") as info:
        CausalLMBackbone.from_pretrained(directory)
    assert "not a local directory" not in str(info.value)


@pytest.mark.parametrize("save", [save_tiny_gpt2, save_tiny_pythia])
def test_finetuning_modes_choose_trainable_parameters(tmp_path, save):
    directory = save(tmp_path / "lm")
    full = CausalLMBackbone.from_pretrained(directory)
    assert all(p.requires_grad for p in full.parameters())
    frozen = CausalLMBackbone.from_pretrained(directory)
    frozen.configure_finetuning("frozen")
    assert not any(p.requires_grad for p in frozen.parameters())
    lora = CausalLMBackbone.from_pretrained(directory)
    lora.configure_finetuning("lora", lora_rank=4)
    trainable = [name for name, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    # adapters start at zero: the output is unchanged
    ids, mask = lora.tokenize(["a prompt"])
    positions = (mask.cumsum(1) - 1).clamp_min(0)
    full.eval(), lora.eval()
    torch.testing.assert_close(
        lora(lora.embed_tokens(ids), mask, positions)[0],
        full(full.embed_tokens(ids), mask, positions)[0],
    )
    with pytest.raises(ValueError, match="finetune"):
        full.configure_finetuning("partial")
