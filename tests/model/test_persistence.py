"""Saving and loading: no pickles, verified files, atomic writes, prefixes, 0.1.0 saves."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from scvi.model.base import BaseModelClass

from calmflow_sc import CaLMFlowPerturb, CheckpointError
from calmflow_sc._saving import _format as checkpoint
from helpers import gen_adata, malicious_pickle, setup, trained_model


@pytest.fixture(scope="module")
def model():
    return trained_model(max_epochs=1)


@pytest.fixture()
def query():
    adata = gen_adata(n_cells=30, seed=3)
    return adata[adata.obs["condition"] == "control"].copy()


def test_save_writes_no_pickle_and_lists_every_file(model, tmp_path):
    model.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names == ["language_model", "manifest.json", "model.json", "weights.safetensors"]
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["format_version"] == checkpoint.FORMAT_VERSION
    assert manifest["model_class"] == "CaLMFlowPerturb"
    assert "weights.safetensors" in manifest["files"]
    assert any(name.startswith("language_model/") for name in manifest["files"])
    for path in (tmp_path / "m").rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_loaded_model_keeps_history_splits_and_predictions(model, query, tmp_path):
    model.save(tmp_path / "m")
    loaded = CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    assert loaded.is_trained_
    assert "_saved" not in model.init_params_["non_kwargs"]  # the save's parts are no argument
    assert loaded.init_params_ == model.init_params_
    assert set(loaded.history_) == set(model.history_)
    np.testing.assert_array_equal(loaded.train_indices_, model.train_indices_)
    before = model.predict(query, perturbation="TNF", inplace=False, seed=1).X
    after = loaded.predict(query, perturbation="TNF", inplace=False, seed=1).X
    np.testing.assert_array_equal(before, after)


def test_malicious_pickle_beside_a_save_is_never_read(model, query, tmp_path):
    model.save(tmp_path / "m")
    marker = tmp_path / "pwned"
    (tmp_path / "m" / "model.pt").write_bytes(malicious_pickle(marker))
    loaded = CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    loaded.predict(query, perturbation="IFNB")
    assert not marker.exists()


def test_pickled_0_1_0_model_is_refused_and_its_payload_does_not_run(tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    marker = tmp_path / "pwned"
    (directory / "model.pt").write_bytes(malicious_pickle(marker))
    with pytest.raises(CheckpointError, match="allow_pickle=True"):
        CaLMFlowPerturb.load(directory, accelerator="cpu")
    assert not marker.exists()


def test_genuine_0_1_0_model_loads_only_with_allow_pickle(model, query, tmp_path, caplog):
    directory = tmp_path / "old"
    BaseModelClass.save(model, str(directory))  # the 0.1.0 format: scvi-tools' model.pt
    model.module.backbone.save_pretrained(directory / "language_model")
    with pytest.raises(CheckpointError, match="pickle"):
        CaLMFlowPerturb.load(directory, accelerator="cpu")
    with pytest.warns(UserWarning, match="trust"), caplog.at_level(logging.INFO):
        loaded = CaLMFlowPerturb.load(directory, accelerator="cpu", allow_pickle=True)
    assert "already downloaded" not in caplog.text  # scvi-tools said so; nothing was downloaded
    before = model.predict(query, perturbation="IFNB", inplace=False, seed=2).X
    np.testing.assert_array_equal(
        before, loaded.predict(query, perturbation="IFNB", inplace=False, seed=2).X
    )
    loaded.save(directory, overwrite=True)  # converted: the pickle is gone
    assert not (directory / "model.pt").exists()
    CaLMFlowPerturb.load(directory, accelerator="cpu")


@pytest.mark.parametrize(
    "name", ["weights.safetensors", "model.json", "language_model/config.json"]
)
def test_modified_file_fails_the_checksum(model, tmp_path, name):
    model.save(tmp_path / "m")
    path = tmp_path / "m" / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # 64 zeroed bytes
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")


def test_missing_file_newer_format_and_other_class_are_named(model, tmp_path):
    model.save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps(manifest | {"format_version": 99}))
    with pytest.raises(CheckpointError, match=r"newer.*pip install -U"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    manifest_path.write_text(json.dumps(manifest | {"model_class": "SCVI"}))
    with pytest.raises(CheckpointError, match=r"SCVI\.load"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    manifest_path.write_text("{not json")
    with pytest.raises(CheckpointError, match="damaged"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "m" / "weights.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")


def test_manifest_cannot_point_outside_the_save(model, tmp_path):
    model.save(tmp_path / "m")
    manifest_path = tmp_path / "m" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["../secret"] = {"sha256": "0", "bytes": 0}
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="outside"):
        CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")


def test_interrupted_save_keeps_the_earlier_model(model, query, tmp_path, monkeypatch):
    model.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(KeyboardInterrupt):
        model.save(tmp_path / "m", overwrite=True)
    monkeypatch.undo()
    after = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no staging folder left
    CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu").predict(query, perturbation="IFNB")


def test_overwrite_removes_stale_files_and_keeps_the_users(model, tmp_path):
    directory = tmp_path / "m"
    model.save(directory, save_anndata=True)
    (directory / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(directory)
    model.save(directory, overwrite=True)  # without the data this time
    assert not (directory / "adata.h5ad").exists()
    assert (directory / "notes.txt").read_text() == "mine"
    assert CaLMFlowPerturb.load(directory, accelerator="cpu").adata is None


def test_overwrite_drops_a_foreign_adata_file(model, tmp_path):
    directory = tmp_path / "m"
    directory.mkdir()
    other = gen_adata(n_cells=20, seed=9)
    other.write_h5ad(directory / "adata.h5ad")
    (directory / "model.pt").write_bytes(b"an older model")
    model.save(directory, overwrite=True)
    assert not (directory / "adata.h5ad").exists()
    assert CaLMFlowPerturb.load(directory, accelerator="cpu").adata is None


def test_saves_with_prefixes_share_a_directory(model, query, tmp_path):
    other = trained_model(max_epochs=1, n_steps=2)
    model.save(tmp_path, prefix="a_")
    other.save(tmp_path, prefix="b_")
    first = CaLMFlowPerturb.load(tmp_path, prefix="a_", accelerator="cpu")
    second = CaLMFlowPerturb.load(tmp_path, prefix="b_", accelerator="cpu")
    assert first.module.n_steps == model.module.n_steps and second.module.n_steps == 2
    with pytest.raises(FileNotFoundError, match="prefix='c_'"):
        CaLMFlowPerturb.load(tmp_path, prefix="c_", accelerator="cpu")


def test_saved_anndata_is_loaded_and_can_train_further(tmp_path):
    adata = gen_adata()
    setup(adata)
    model = trained_model(adata, max_epochs=1)
    model.save(tmp_path / "m", save_anndata=True)
    loaded = CaLMFlowPerturb.load(tmp_path / "m", accelerator="cpu")
    assert loaded.adata is not None and loaded.adata.n_obs == adata.n_obs
    loaded.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    assert loaded.is_trained_
