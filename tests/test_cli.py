from __future__ import annotations

import subprocess
import sys

import anndata
import pytest


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo.h5ad"
    result = subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", "demo", "--max-epochs", "2", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in ("calmflow", "mean_shift", "control", "energy_distance"):
        assert name in result.stdout
    written = anndata.read_h5ad(out)
    assert set(written.obs["origin"]) == {"observed", "calmflow", "mean_shift", "control"}
    assert (written.obs["condition"] == "IFNB+TNF").all()
    assert written.n_vars == 1000


def test_unknown_command_exits_non_zero():
    result = subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", "fly"], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"]])
def test_help_has_examples(argv):
    result = subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", *argv], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "demo" in result.stdout
