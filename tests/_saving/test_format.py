"""The save format without a model: manifest, checksums, atomic writes, plain JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from calmflow_sc import CheckpointError
from calmflow_sc._saving import has_save, read_manifest, write_checkpoint
from calmflow_sc._saving._format import FORMAT_VERSION
from calmflow_sc._saving._serialization import (
    SerializationError,
    from_json_value,
    to_json_value,
)
from calmflow_sc._saving._training_state import read_training_state, training_state_writer


def write_files(contents: dict[str, bytes]):
    def write(folder):
        for name, data in contents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)

    return write


def test_manifest_lists_every_file_and_is_verified(tmp_path):
    write_checkpoint(tmp_path / "s", write_files({"weights.safetensors": b"w", "a/b.txt": b"t"}))
    manifest = read_manifest(tmp_path / "s")
    assert manifest["format_version"] == FORMAT_VERSION
    assert set(manifest["files"]) == {"weights.safetensors", "a/b.txt"}
    assert has_save(tmp_path / "s")
    (tmp_path / "s" / "a" / "b.txt").write_bytes(b"T")
    with pytest.raises(CheckpointError, match="checksum"):
        read_manifest(tmp_path / "s")


def test_newer_damaged_and_escaping_manifests_are_refused(tmp_path):
    write_checkpoint(tmp_path / "s", write_files({"model.json": b"{}"}))
    path = tmp_path / "s" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(CheckpointError, match="upgrade"):
        read_manifest(tmp_path / "s")
    path.write_text(json.dumps(manifest | {"files": {"../x": {"sha256": "0"}}}))
    with pytest.raises(CheckpointError, match="outside"):
        read_manifest(tmp_path / "s")
    path.write_text("[")
    with pytest.raises(CheckpointError, match="damaged"):
        read_manifest(tmp_path / "s")


def test_failed_write_keeps_the_earlier_save_and_overwrite_keeps_other_files(tmp_path):
    write_checkpoint(tmp_path / "s", write_files({"model.json": b"1"}))
    (tmp_path / "s" / "notes.txt").write_text("mine")

    def crash(folder):
        raise KeyboardInterrupt

    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_checkpoint(tmp_path / "s", crash)
    with pytest.raises(KeyboardInterrupt):
        write_checkpoint(tmp_path / "s", crash, overwrite=True)
    assert (tmp_path / "s" / "model.json").read_bytes() == b"1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no staging folder left
    write_checkpoint(tmp_path / "s", write_files({"weights.safetensors": b"2"}), overwrite=True)
    assert not (tmp_path / "s" / "model.json").exists()
    assert (tmp_path / "s" / "notes.txt").read_text() == "mine"


def test_plain_json_round_trip_keeps_types_and_refuses_objects():
    frame = pd.DataFrame({"loss": [1.0, math.nan]}, index=pd.Index([0, 1], name="epoch"))
    value = {
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        "floats": np.array([math.inf, 0.5]),
        "names": np.array(["a", "b"], dtype=object),
        "pair": (1, "x"),
        "frame": frame,
    }
    back = from_json_value(json.loads(json.dumps(to_json_value(value))))
    np.testing.assert_array_equal(back["array"], value["array"])
    assert back["array"].dtype == np.int32
    np.testing.assert_array_equal(back["floats"], value["floats"])
    assert list(back["names"]) == ["a", "b"] and back["pair"] == (1, "x")
    pd.testing.assert_frame_equal(back["frame"], frame)
    with pytest.raises(SerializationError, match=r"value\.bad"):
        to_json_value({"bad": object()})


def test_training_state_round_trip(tmp_path):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([weight])
    weight.grad = torch.full((3,), 0.5)
    optimizer.step()
    state = {
        "finished_epochs": 2,
        "max_epochs": 5,
        "global_step": 7,
        "planned_steps": 20,
        "optimizer": optimizer.state_dict(),
        "scheduler": None,
        "split": [np.arange(3), np.arange(3, 5), np.arange(0)],
    }
    write_checkpoint(tmp_path / "c", training_state_writer(state))
    back = read_training_state(tmp_path / "c")
    assert back["finished_epochs"] == 2 and back["scheduler"] is None
    np.testing.assert_array_equal(back["split"][1], [3, 4])
    restored = torch.optim.AdamW([torch.nn.Parameter(torch.ones(3))])
    restored.load_state_dict(back["optimizer"])
    torch.testing.assert_close(
        restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )


def test_a_plain_save_has_no_training_state(tmp_path):
    write_checkpoint(tmp_path / "s", write_files({"model.json": b"{}"}))
    with pytest.raises(CheckpointError, match="without training state"):
        read_training_state(tmp_path / "s")


def test_non_finite_floats_of_arrays_round_trip_also_as_written_before():
    encoded = to_json_value(np.array([math.nan, -math.inf], dtype=np.float32))
    assert encoded["__ndarray__"] == [{"__float__": "nan"}, {"__float__": "-inf"}]
    back = from_json_value(json.loads(json.dumps(encoded)))
    assert back.dtype == np.float32 and np.isnan(back[0]) and back[1] == -np.inf
    earlier = {"__ndarray__": [{"__float__": "np.float64(nan)"}], "dtype": "<f8", "shape": [1]}
    assert np.isnan(from_json_value(earlier)[0])  # as 65bd849 wrote it
