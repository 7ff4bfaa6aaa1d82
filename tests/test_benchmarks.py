"""Every benchmark script runs its smallest configuration, so that none can rot."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
TINY = "calmflow[n_layers=1,hidden_size=16,n_heads=2,n_components=8,n_latent=4,budget=0.02]"


@pytest.fixture(scope="module")
def scripts():
    sys.path.insert(0, str(BENCHMARKS))
    yield lambda name: importlib.import_module(name)
    sys.path.remove(str(BENCHMARKS))


def test_every_script_is_covered():
    covered = {
        "run",
        "rollout_speed",
        "report",
        "prompt_encoders",
        "descriptions",
        "training_speed",
        "gpu",
        "scale",
        "paper",
        "paired",
        "prior_report",
        "knowledge_sources",
        "validation_tracking",
        "threads",
        "gpu_wheels",
    }
    assert {path.stem for path in BENCHMARKS.glob("*.py")} <= covered


def test_runner_on_simulated_data_scores_fit_and_held_out_cells(scripts, tmp_path):
    out = tmp_path / "simulated.csv"
    arguments = ["simulated", "--cell-types", "T cell", "--seeds", "0", "--fast-metrics"]
    arguments += ["--models", TINY, "mean_shift", "perturbed_mean"]
    arguments += ["--decodings", "residual", "pca"]
    scripts("run").main([*arguments, "--out", str(out)])
    table = pd.read_csv(out)
    assert set(table["model"]) == {
        f"{TINY}@decoding=residual",
        f"{TINY}@decoding=pca",
        "mean_shift",
        "perturbed_mean",
    }
    assert set(table["perturbation"]) == {"IFNB", "TNF", "IL4", "IFNB+TNF", "IFNB+IL4"}
    columns = ("energy_distance", "fit_pearson_delta_top50", "fit_energy_distance")
    for column in (*columns, "fit_oracle_ratio", "detection_rate_error", "spread_ratio"):
        assert table[column].notna().all(), column
    assert (table["fit_pearson_delta_top50_min"] <= table["fit_pearson_delta_top50"]).all()
    fit = pd.read_csv(tmp_path / "simulated_fit.csv")
    # every training condition of the split: 5 perturbations in each of the 3 other types
    assert len(fit[fit["model"] == "mean_shift"]) == 15
    assert set(fit["context"]) == {"B cell", "monocyte", "NK cell"}


def test_paired_differences_of_two_runs(scripts, tmp_path):
    keys = {"task": "kang", "perturbation": "stimulated", "model": "calmflow", "seed": 0}
    before = pd.DataFrame(
        [
            keys | {"split": "B", "energy_distance": 0.5},
            keys | {"split": "NK", "energy_distance": 0.7},
        ]
    )
    after = before.assign(energy_distance=[0.5, 0.9])
    for folder, table in (("before", before), ("after", after)):
        (tmp_path / folder).mkdir()
        table.to_csv(tmp_path / folder / "kang.csv", index=False)
    out = tmp_path / "paired.md"
    row = scripts("paired").paired_table(before, after).iloc[0]
    assert (row["pairs"], row["before"], row["after"]) == (2, 0.6, 0.7)
    assert row["mean difference"] == pytest.approx(0.1)
    assert row["largest |difference|"] == pytest.approx(0.2)
    scripts("paired").main(
        [str(tmp_path / "before"), str(tmp_path / "after"), "--tasks", "kang", "--out", str(out)]
    )
    assert out.read_text().startswith("Paired differences:") and "### kang" in out.read_text()
    with pytest.raises(ValueError, match="share no"):
        scripts("paired").paired_table(before, after.assign(seed=1))


def test_prior_report_averages_the_prior_runs_beside_the_references(scripts, tmp_path, monkeypatch):
    report = scripts("prior_report")
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "REFERENCES", {"norman_unseen": ["baselines.csv"]})
    keys = {"task": "norman_unseen", "pearson_delta_top50": 0.5}
    rows = [
        keys | {"split": "G", "perturbation": "G", "energy_distance": 0.2},
        keys | {"split": "G", "perturbation": "G+H", "energy_distance": 0.6},
    ]
    prior = pd.DataFrame(rows).assign(model="prior", seed=0)
    prior.to_csv(tmp_path / "condition_prior_norman_unseen.csv", index=False)
    baselines = pd.concat(
        [
            prior.assign(model="knn", energy_distance=[0.4, 0.8]),
            prior.assign(model="knn", seed=1, energy_distance=9.0),  # another seed: left out
            prior.assign(model="knn", split="K", perturbation="K"),  # another split: left out
        ]
    )
    baselines.to_csv(tmp_path / "baselines.csv", index=False)
    text = report.table("norman_unseen")
    assert "| gene alone          | knn     |               0.4 |" in text
    assert "| pairs with the gene | prior   |               0.6 |" in text
    assert report.table("kang") is None
    every = report.table("norman_unseen", all_seeds=True)  # knn's seeds averaged first
    assert "| gene alone          | knn     |               4.7 |" in every


def test_knowledge_sources_write_family_vectors(scripts, tmp_path):
    sources = scripts("knowledge_sources")
    sources.main(["families", "--genes", "MAP2K3", "MAP2K6", "KLF1", "--out-dir", str(tmp_path)])
    table = pd.read_csv(tmp_path / "knowledge_families.csv", index_col=0)
    assert table.loc["MAP2K3", "MAP2K"] == table.loc["MAP2K6", "MAP2K"] == 1.0
    assert table.loc["KLF1"].sum() == 0.0  # in no FamPlex family
    with pytest.raises(SystemExit):  # the language model needs its GGUF folder
        sources.main(["smollm2", "--genes", "KLF1", "--out-dir", str(tmp_path)])


def test_validation_tracking_logs_both_scores_and_summarises_the_rules(scripts, tmp_path, capsys):
    out = tmp_path / "tracking.csv"
    model = "calmflow[n_layers=1,hidden_size=16,n_heads=2,n_components=8,n_latent=4]"
    arguments = ["simulated", "--splits", "T cell", "--budget", "0.05", "--model", model]
    scripts("validation_tracking").main([*arguments, "--out", str(out)])
    table = pd.read_csv(out)
    scores = ["heldout_distance_validation", "true_distance_validation", "elbo_validation"]
    assert len(table) >= 2 and table[scores].notna().all().all()
    assert table["heldout"].str.match(r"(context|combination|component):").all()
    capsys.readouterr()
    scripts("validation_tracking").main(["--summary", str(out)])
    text = capsys.readouterr().out
    assert "conditions_rule" in text and "| simulated" in text


def test_rollout_speed_checks_cached_against_recomputed_states(scripts, tmp_path, capsys):
    out = tmp_path / "rollout.md"
    scripts("rollout_speed").main(["--n-cells", "3", "--steps", "2", "--out", str(out)])
    row = out.read_text().splitlines()[-1].split("|")
    assert row[1].strip() == "2" and float(row[-2]) < 1e-4


def test_training_speed_times_every_model(scripts, tmp_path):
    out = tmp_path / "speed.md"
    scripts("training_speed").main(["--task", "simulated", "--max-epochs", "1", "--out", str(out)])
    rows = [
        line for line in out.read_text().splitlines() if line.startswith("| ") and "---" not in line
    ]
    assert [row.split("|")[1].strip() for row in rows[1:]] == [
        "CaLMFlowPerturb (this version)",
        "FlowMatchingBaseline (control source)",
    ]
    assert rows[1].split("|")[-2].strip() == "1.00"


def test_report_writes_the_benchmarks_page(scripts, tmp_path):
    out = tmp_path / "benchmarks.md"
    scripts("report").main(["--out", str(out)])
    assert out.read_text().startswith("# Benchmarks")
    assert list((tmp_path / "_static" / "benchmarks").glob("*.png"))


@pytest.mark.realdata
@pytest.mark.skipif(not os.environ.get("CALMFLOW_SC_DATA_DIR"), reason="needs the shared data")
def test_prompt_encoder_runs_write_their_table(scripts, tmp_path, monkeypatch):
    module = scripts("prompt_encoders")
    monkeypatch.setattr(module, "RESULTS", tmp_path / "prompts")
    monkeypatch.setitem(module.VARIANTS, "onehot", TINY.replace("]", ",prompt_encoder=onehot]"))
    module.main(["kang", "--variants", "onehot", "--seeds", "0", "--cell-types", "Dendritic"])
    table = pd.read_csv(tmp_path / "prompts" / "kang-onehot.csv")
    assert set(table["split"]) == {"Dendritic"}


def test_gpu_benchmark_runs_at_its_smallest_size_on_the_cpu(scripts, tmp_path):
    out = tmp_path / "gpu.csv"
    argv = ["--sizes", "default", "--steps", "1", "--cells", "48", "--batch-size", "8"]
    table = scripts("gpu").main([*argv, "--out", str(out)])
    assert list(table["phase"]) == ["train", "predict"]
    assert (table["cells_per_second"] > 0).all()
    train = table[table["phase"] == "train"].iloc[0]
    assert train["tokens_per_second"] > train["cells_per_second"]  # several tokens per cell
    assert pd.read_csv(out).shape[0] == 2


@pytest.mark.slow
def test_scale_benchmark_measures_both_phases_in_their_own_processes(scripts, tmp_path):
    out = tmp_path / "scale.csv"
    argv = ["scale.py", "--sizes", "300", "--n-genes", "60", "--workdir", str(tmp_path)]
    saved, sys.argv = sys.argv, [*argv, "--out", str(out)]
    try:
        scripts("scale").main()
    finally:
        sys.argv = saved
    table = pd.read_csv(out)
    assert list(table["phase"]) == ["train", "predict"]
    assert (table["peak_rss_gb"] > 0.1).all() and (table["cells_per_second"] > 0).all()
    assert (tmp_path / "predicted_300.h5ad").is_file()


def test_paper_benchmark_on_a_file_in_the_cinemaot_schema(scripts, tmp_path):
    from atlas_files import write_cinemaot_file

    path = write_cinemaot_file(tmp_path / "dong2023_cinemaot.h5ad", n_genes=80)
    out, summary = tmp_path / "paper.csv", tmp_path / "paper.md"
    arguments = [str(path), "--min-genes", "1", "--n-top-genes", "60", "--seeds", "0", "1"]
    arguments += ["--models", TINY, "mean_shift", "--accelerator", "cpu", "--fast-metrics"]
    scripts("paper").main([*arguments, "--out", str(out), "--summary", str(summary)])
    table = pd.read_csv(out)
    # 14 held-out conditions for each seed of the model, once for the deterministic baseline
    assert len(table[table["model"] == TINY]) == 28
    assert len(table[table["model"] == "mean_shift"]) == 14
    assert set(table["split"]) == {
        " | ".join([c["perturbation"], c["cell_type"], c["chronicity"]])
        for c in scripts("paper").cfs.data.CINEMAOT_HELDOUT
    }
    for column in ("mmd", "energy_distance", "r2_all", "fit_pearson_delta_top50"):
        assert table[column].notna().all(), column
    text = summary.read_text()
    assert "mean_shift" in text and "± " in text and "Command: `python benchmarks/paper.py" in text


def test_threads_times_one_and_every_core_alone_and_beside_a_job(scripts, tmp_path):
    out = tmp_path / "threads.md"
    table = scripts("threads").main(
        ["--task", "simulated", "--epochs", "1", "--backbones", "default", "--out", str(out)]
    )
    assert out.read_text() == table
    rows = [line for line in table.splitlines() if line.startswith("| default")]
    assert len(rows) in (2, 4)  # one core: 1 thread; more: 1 and all, idle and busy
    idle_one = next(row for row in rows if "| idle | 1 |" in row)
    assert idle_one.rstrip(" |").endswith("1.00")
    assert any("beside another job" in row for row in rows)


def _fake_wheel(folder, name, version, requires=()):
    import zipfile

    path = folder / f"{name}-{version}-py3-none-any.whl"
    lines = [f"Name: {name}", f"Version: {version}", *(f"Requires-Dist: {r}" for r in requires)]
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def test_gpu_wheels_resolve_against_the_image_or_name_what_is_missing(scripts, tmp_path):
    from packaging.requirements import Requirement

    wheels = scripts("gpu_wheels")
    image = ["numpy", "torch"]
    versions = {"torch": "2.11.0"}
    needs = [Requirement("scvi_tools>=1.4"), Requirement("torch>=2.2")]
    _fake_wheel(
        tmp_path, "scvi_tools", "1.5.1", ["anndata>=0.11", "numpy", "extra_only; extra == 'x'"]
    )
    problems = wheels.check_folder(tmp_path, needs, image, versions)
    assert problems == ["anndata: needed by scvi-tools (anndata>=0.11), in neither"]
    _fake_wheel(tmp_path, "anndata", "0.10.9", ["numpy>=1.23"])
    problems = wheels.check_folder(tmp_path, needs, image, versions)
    assert problems == ["anndata 0.10.9 (wheel) does not meet anndata>=0.11 of scvi-tools"]
    (tmp_path / "anndata-0.10.9-py3-none-any.whl").unlink()
    _fake_wheel(tmp_path, "anndata", "0.13.4", ["numpy>=1.23"])
    assert wheels.check_folder(tmp_path, needs, image, versions) == []
    newer_torch = [Requirement("torch>=2.12")]
    assert (
        "torch 2.11.0 (image) does not meet torch>=2.12"
        in wheels.check_folder(tmp_path, newer_torch, image, versions)[0]
    )
    _fake_wheel(tmp_path, "anndata", "0.12.0")
    assert "anndata: 2 wheels" in wheels.check_folder(tmp_path, needs, image, versions)[0]


def test_gpu_wheels_carry_what_the_package_needs_beyond_the_image(scripts):
    from packaging.requirements import Requirement

    wheels = scripts("gpu_wheels")
    carried = wheels.carried_packages([Requirement("scvi-tools")])
    assert "scvi-tools" in carried and "anndata" in carried
    assert "torch" not in carried and "numpy" not in carried  # the image has them
