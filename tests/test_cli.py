from __future__ import annotations

import logging
import subprocess
import sys

import anndata
import numpy as np
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
    printed = result.stdout + result.stderr
    for chatter in ("GPU available", "litlogger", "Seed set", "Sinkhorn", "v_num", "Warning"):
        assert chatter not in printed, chatter
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


@pytest.mark.parametrize(
    "argv",
    [["--help"], *([c, "--help"] for c in ("demo", "train", "predict", "generate", "evaluate"))],
)
def test_help_has_examples(argv):
    result = subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", *argv], capture_output=True, text=True
    )
    assert result.returncode == 0
    expected = "demo" if argv == ["--help"] else "example"
    assert expected in result.stdout


def _cli(*args, timeout=600, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def _train_kang(data, max_epochs: int, out, *extra):
    """`calmflow-sc train` on Kang files, with their condition and cell-type columns."""
    return _cli(
        "train",
        data,
        "--perturbation-key",
        "condition",
        "--control-value",
        "control",
        "--cell-type-key",
        "cell_type",
        "--max-epochs",
        max_epochs,
        "--accelerator",
        "cpu",
        "--out",
        out,
        *extra,
    )


@pytest.fixture(scope="module")
def kang_files(tmp_path_factory, data_dir):
    """The shared Kang data as training file, as .h5mu, and CD14+Mono query / truth files."""
    import mudata

    folder = tmp_path_factory.mktemp("cli")
    adata = anndata.read_h5ad(data_dir / "kang2018_pbmc_ifnb.h5ad")
    mono = (adata.obs["cell_type"] == "CD14+Mono").to_numpy()
    stim = (adata.obs["condition"] == "stimulated").to_numpy()
    adata[~(mono & stim)].copy().write_h5ad(folder / "train.h5ad")
    adata[mono & ~stim].copy().write_h5ad(folder / "query.h5ad")
    adata[mono & stim].copy().write_h5ad(folder / "truth.h5ad")
    # the perturbation label lives in the MuData's global obs, not in the modality
    rna = adata[~(mono & stim)].copy()
    condition = rna.obs.pop("condition")
    mdata = mudata.MuData({"rna": rna})
    mdata.obs["condition"] = condition.to_numpy()
    mdata.write(folder / "train.h5mu")
    return folder


@pytest.fixture(scope="module")
def trained(kang_files):
    result = _train_kang(kang_files / "train.h5ad", 2, kang_files / "model")
    assert result.returncode == 0, result.stderr[-2000:]
    return kang_files / "model"


@pytest.mark.realdata
def test_train_predict_evaluate_generate(kang_files, trained):
    assert (trained / "manifest.json").is_file()
    out = kang_files / "predicted.h5ad"
    result = _cli(
        "predict",
        trained,
        kang_files / "query.h5ad",
        "--perturbation",
        "stimulated",
        "--key-added",
        "pred",
        "--out",
        out,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    predicted = anndata.read_h5ad(out)
    query = anndata.read_h5ad(kang_files / "query.h5ad")
    # streamed: X is the prediction, the perturbation column says which
    assert predicted.X.shape == query.shape
    assert not np.allclose(
        predicted.X, query.X.toarray() if hasattr(query.X, "toarray") else query.X
    )
    assert (predicted.obs["condition"] == "stimulated").all()
    assert predicted.obsm["X_pred"].shape[0] == query.n_obs

    metrics = kang_files / "metrics.csv"
    result = _cli(
        "evaluate",
        out,
        kang_files / "truth.h5ad",
        kang_files / "query.h5ad",
        "--key-added",
        "pred",
        "--out",
        metrics,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    import pandas as pd

    table = pd.read_csv(metrics)
    assert {"energy_distance", "mmd", "de_overlap_top50"} <= set(table["metric"])
    assert table["value"].notna().all()

    conditions = kang_files / "conditions.csv"
    conditions.write_text("condition,cell_type\nstimulated,B\nstimulated,NK\ncontrol,B\n")
    generated_path = kang_files / "generated.h5mu"
    result = _cli("generate", trained, conditions, "--out", generated_path)
    assert result.returncode == 0, result.stderr[-2000:]
    import mudata

    generated = mudata.read_h5mu(generated_path).mod["rna"]
    assert generated.n_obs == 3 and generated.n_vars == query.n_vars
    assert generated.obs["cell_type"].tolist() == ["B", "NK", "B"]


@pytest.mark.realdata
def test_validation_by_conditions_and_dense_predictions(kang_files, trained):
    out = kang_files / "validated"
    result = _train_kang(kang_files / "train.h5ad", 2, out, "--validation", "conditions")
    assert result.returncode == 0, result.stderr[-2000:]
    from calmflow_sc import CaLMFlowPerturb

    held = CaLMFlowPerturb.load(out).history["heldout_conditions"]
    assert held["kind"].tolist() == ["context"] and held["condition"].tolist() == ["stimulated"]
    fractions = {}
    for flag in ([], ["--dense"]):
        path = kang_files / f"predicted{len(flag)}.h5mu"
        query = kang_files / "query.h5ad"
        result = _cli(
            "predict", trained, query, "--perturbation", "stimulated", *flag, "--out", path
        )
        assert result.returncode == 0, result.stderr[-2000:]
        import mudata

        predicted = mudata.read_h5mu(path).mod["rna"]
        assert predicted.uns["calmflow_params"]["keep_zeros"] is (not flag)
        fractions[bool(flag)] = (predicted.layers["calmflow"] > 0).mean()
    assert fractions[False] < fractions[True]


@pytest.mark.realdata
def test_train_reads_h5mu_with_global_labels(kang_files):
    result = _train_kang(kang_files / "train.h5mu", 1, kang_files / "model_mu")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (kang_files / "model_mu" / "manifest.json").is_file()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "train",
                "missing.h5ad",
                "--perturbation-key",
                "c",
                "--control-value",
                "x",
                "--out",
                "m",
            ],
            "No such file",
        ),
        (
            ["train", "data.csv", "--perturbation-key", "c", "--control-value", "x", "--out", "m"],
            "neither an .h5ad",
        ),
        (
            ["predict", "no_model_dir", "q.h5ad", "--perturbation", "p", "--out", "o.h5ad"],
            "No saved model",
        ),
        (
            ["predict", "no_model_dir", "q.h5ad", "--perturbation", "p", "--out", "o.txt"],
            "must end in",
        ),
        (["evaluate", "p.h5ad", "r.h5ad", "c.h5ad", "--out", "o.h5ad"], "must end in"),
    ],
)
def test_bad_input_is_one_line_without_traceback(tmp_path, argv, message):
    result = subprocess.run(
        [sys.executable, "-m", "calmflow_sc.cli", *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], result.stderr


@pytest.mark.realdata
def test_bad_key_in_training_file(kang_files):
    result = _cli(
        "train",
        kang_files / "train.h5ad",
        "--perturbation-key",
        "stimulus",
        "--control-value",
        "control",
        "--out",
        kang_files / "never",
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "stimulus" in result.stderr and "not a column" in result.stderr


def test_damaged_training_file_is_named(tmp_path):
    (tmp_path / "bad.h5ad").write_bytes(b"definitely not hdf5")
    result = _cli(
        "train",
        "bad.h5ad",
        "--perturbation-key",
        "c",
        "--control-value",
        "x",
        "--out",
        "m",
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "Could not read 'bad.h5ad'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.realdata
def test_outputs_are_checked_before_any_work(kang_files, trained, tmp_path):
    existing = tmp_path / "exists.h5ad"
    existing.write_bytes(b"keep me")
    query = kang_files / "query.h5ad"
    result = _cli("predict", trained, query, "--perturbation", "stimulated", "--out", existing)
    assert result.returncode == 1 and "--overwrite" in result.stderr
    assert existing.read_bytes() == b"keep me"
    result = _train_kang(kang_files / "train.h5ad", 1, trained)  # a model is already there
    assert result.returncode == 1 and "--overwrite" in result.stderr


@pytest.mark.realdata
def test_unknown_perturbation_fails(kang_files, trained, tmp_path):
    query = kang_files / "query.h5ad"
    out = tmp_path / "o.h5ad"
    result = _cli("predict", trained, query, "--perturbation", "stimulatd", "--out", out)
    assert result.returncode == 1 and "--allow-unseen" in result.stderr
    assert not out.exists()


@pytest.mark.realdata
def test_malicious_pickle_in_a_model_directory_does_not_run(kang_files, trained, tmp_path):
    import shutil

    from helpers import malicious_pickle

    model = tmp_path / "model"
    shutil.copytree(trained, model)
    (model / "model.pt").write_bytes(malicious_pickle(tmp_path / "pwned"))
    out = tmp_path / "o.h5ad"
    query = kang_files / "query.h5ad"
    result = _cli("predict", model, query, "--perturbation", "stimulated", "--out", out)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (tmp_path / "pwned").exists()


def test_a_described_component_passes_the_known_perturbation_check():
    from calmflow_sc import CaLMFlowPerturb
    from calmflow_sc.cli import _check_known_perturbation
    from helpers import TINY_MODEL, gen_adata, setup

    adata = gen_adata()
    setup(adata)
    model = CaLMFlowPerturb(adata, perturbation_embeddings={"IL2": [1.0, 2.0]}, **TINY_MODEL)
    _check_known_perturbation(model, "IL2+TNF", allow_unseen=False)  # described: accepted
    with pytest.raises(ValueError, match=r"\['IL7'\] never occurred in training"):
        _check_known_perturbation(model, "IL7", allow_unseen=False)
    with pytest.raises(ValueError, match="Did you mean 'TNF' for 'TFN'"):
        _check_known_perturbation(model, "IFNB+TFN", allow_unseen=False)  # a typo


def test_train_and_predict_read_doses(tmp_path, capsys):
    import anndata as ad
    import numpy as np

    from calmflow_sc.cli import main
    from helpers import gen_adata

    adata = gen_adata()
    perturbed = adata.obs["condition"].astype(str) != "control"
    adata.obs["dose"] = np.where(perturbed, np.resize([1.0, 3.0], adata.n_obs), 0.0)
    adata.write_h5ad(tmp_path / "train.h5ad")
    adata[~perturbed.to_numpy()].copy().write_h5ad(tmp_path / "query.h5ad")
    train = ["train", tmp_path / "train.h5ad", "--perturbation-key", "condition"]
    train += ["--control-value", "control", "--dose-key", "dose", "--max-epochs", "1"]
    assert main([*map(str, train), "--out", str(tmp_path / "model")]) == 0
    predict = ["predict", tmp_path / "model", tmp_path / "query.h5ad", "--perturbation", "IFNB"]
    assert main([*map(str, predict), "--out", str(tmp_path / "missing.h5ad")]) == 1
    assert "pass the dose" in capsys.readouterr().err
    typo = ["predict", tmp_path / "model", tmp_path / "query.h5ad", "--perturbation", "IFBN"]
    assert main([*map(str, typo), "--dose", "3", "--out", str(tmp_path / "t.h5ad")]) == 1
    assert "Did you mean 'IFNB' for 'IFBN'?" in capsys.readouterr().err
    assert main([*map(str, predict), "--dose", "3", "--out", str(tmp_path / "p.h5ad")]) == 0
    predicted = ad.read_h5ad(tmp_path / "p.h5ad")
    assert predicted.uns["calmflow_params"]["dose"] == "3"


def test_version_and_help_do_not_load_torch():
    code = (
        "import sys\n"
        "from calmflow_sc import cli\n"
        "for argv in (['--version'], ['--help'], ['predict', '--help']):\n"
        "    try:\n"
        "        cli._parser().parse_args(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'torch' not in sys.modules and 'scvi' not in sys.modules, 'heavy import'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("calmflow-sc ")
    import calmflow_sc

    assert calmflow_sc.__version__ in result.stdout


def test_evaluate_refuses_controls_as_predictions_and_writes_cell_eval_files(tmp_path, capsys):
    import numpy as np

    from calmflow_sc.cli import main
    from helpers import gen_adata

    adata = gen_adata(n_cells=300, n_genes=120)
    adata.obs["condition"] = adata.obs["condition"].astype(str)
    control = adata[adata.obs["condition"] == "control"].copy()
    real = adata[adata.obs["condition"] == "IFNB"].copy()
    pred = control.copy()
    pred.obs["condition"] = "IFNB"
    for name, cells in (("control", control), ("real", real), ("pred", pred)):
        cells.write_h5ad(tmp_path / f"{name}.h5ad")
    files = [str(tmp_path / f"{name}.h5ad") for name in ("pred", "real", "control")]
    assert main(["evaluate", *files, "--out", str(tmp_path / "m.csv")]) == 1
    assert "identical to CONTROL" in capsys.readouterr().err
    pred.X = pred.X * 1.1
    pred.write_h5ad(tmp_path / "pred.h5ad")
    layout = tmp_path / "cell_eval"
    argv = ["evaluate", *files, "--out", str(tmp_path / "m.csv"), "--cell-eval", str(layout)]
    assert main(argv) == 0
    assert "cell-eval run" in capsys.readouterr().out
    written = anndata.read_h5ad(layout / "pred.h5ad")
    assert set(written.obs["condition"]) == {"IFNB", "control"}
    assert np.isfinite(written.X.toarray() if hasattr(written.X, "toarray") else written.X).all()


def test_evaluate_refuses_counts_beside_log_predictions(tmp_path, capsys):
    """A raw-count truth file scored against log-scale predictions used to exit 0."""
    import numpy as np

    from calmflow_sc.cli import main
    from helpers import gen_adata

    adata = gen_adata(n_cells=300, n_genes=120)
    control = adata[adata.obs["condition"] == "control"].copy()
    real = adata[adata.obs["condition"] == "IFNB"].copy()
    real.X = real.X.copy()
    real.X.data = np.round(np.expm1(real.X.data) * 50)  # the counts file
    pred = control.copy()
    pred.X = pred.X * 1.1
    for name, cells in (("control", control), ("real", real), ("pred", pred)):
        cells.write_h5ad(tmp_path / f"{name}.h5ad")
    files = [str(tmp_path / f"{name}.h5ad") for name in ("pred", "real", "control")]
    assert main(["evaluate", *files, "--out", str(tmp_path / "m.csv")]) == 1
    error = capsys.readouterr().err
    assert "different scales" in error and "real.X holds raw counts" in error
    assert not (tmp_path / "m.csv").exists()


@pytest.mark.realdata
def test_train_takes_a_time_limit_and_threads(kang_files, tmp_path, caplog):
    from calmflow_sc.cli import main

    argv = ["train", str(kang_files / "train.h5ad"), "--perturbation-key", "condition"]
    argv += ["--control-value", "control", "--cell-type-key", "cell_type"]
    argv += ["--max-epochs", "1000", "--accelerator", "cpu", "--max-time", "00:00:00:02"]
    argv += ["--num-threads", "1", "--out", str(tmp_path / "model")]
    with caplog.at_level(logging.INFO, logger="scvi.calmflow_sc"):
        assert main(argv) == 0
    output = " ".join(r.getMessage() for r in caplog.records if r.name == "scvi.calmflow_sc")
    assert "up to 1,000 epochs" in output
    assert "max_time='00:00:00:02'" in output
    assert "1 CPU thread" in output
