"""Write docs/benchmarks.md and its figures from the CSV files of ``benchmarks/run.py``.

Usage::

    python benchmarks/report.py

reads ``benchmarks/results/{kang,norman,kang_counts}.csv`` with their ``*_fit.csv`` (the fit of
the training conditions), ``ablations_*.csv`` (variants of the defaults), the tables that
``training_speed.py``, ``rollout_speed.py``, ``scale.py`` and ``prompt_encoders.py --report`` write, and the
hand-kept texts there, and writes ``docs/benchmarks.md`` and ``docs/_static/benchmarks/*.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import calmflow_sc as cfs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

NAMES = {
    "calmflow[prompt_encoder=components]": "CaLMFlowPerturb, component codes (defaults)",
    "calmflow[descriptions=True]": "CaLMFlowPerturb, component codes + descriptions (defaults)",
    "calmflow": "CaLMFlowPerturb, text prompt (0.2 defaults)",
    "calmflow@decoding=residual": "CaLMFlowPerturb, text prompt (0.2 defaults)",
    "calmflow@decoding=pca": "CaLMFlowPerturb, text prompt, inverse-PCA decoding",
    "calmflow[prompt_encoder=lm,descriptions=True]": "CaLMFlowPerturb, text prompt + descriptions",
    "cfm_control": "CFM, control source",
    "cfm_gaussian": "CFM, Gaussian source",
    "linear": "linear model",
    "mean_shift": "mean shift / additive",
    "perturbed_mean": "mean of the seen perturbations",
    "nearest": "nearest seen perturbation (MiniLM)",
    "knowledge_knn": "similarity-weighted seen perturbations, shrunk (MiniLM)",
    "knowledge_ridge": "ridge from knowledge to effect, shrunk (MiniLM)",
    "control": "control as prediction",
}
ORDER = list(NAMES)
COLUMNS = {
    "energy_distance": "energy distance",
    "mmd": "MMD",
    "wasserstein2": "W2",
    "sinkhorn": "Sinkhorn",
    "pearson_delta_top50": "Pearson delta top-50",
    "pearson_delta_all": "Pearson delta all",
    "r2_top50": "R2 top-50",
    "de_overlap_top50": "DE overlap top-50",
    "own_deviation_top50": "own deviation top-50",
    "fit_pearson_delta_top50": "fit: Pearson delta top-50",
    "fit_pearson_delta_top50_min": "fit: weakest condition",
    "fit_energy_distance": "fit: energy distance",
    "train_s": "train (s, median)",
    "predict_s": "predict (s, median)",
}
LOWER_IS_BETTER = {"energy_distance", "mmd", "wasserstein2", "sinkhorn", "fit_energy_distance"}


def _name(spec: str) -> str:
    return NAMES.get(spec, f"`{spec}`")


FIT = ["fit_pearson_delta_top50", "fit_pearson_delta_top50_min", "fit_energy_distance"]


def summary(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean (and sd of the main distances) per model over splits, perturbations and seeds.

    The fit of the training conditions is one value per trained model (split and seed), so it
    is averaged over those; ``runs`` counts trained models.
    """
    grouped = table.groupby("model")
    held_out = [m for m in metrics if m not in FIT]
    out = grouped[held_out].mean()
    runs = table.drop_duplicates(["model", "split", "seed"])
    fit = [m for m in metrics if m in FIT and m in table]
    if fit:
        out[fit] = runs.groupby("model")[fit].mean()
    timing = [m for m in ("train_s", "predict_s") if m in metrics]
    out[timing] = runs.groupby("model")[timing].median()  # robust to runs slowed by other work
    for metric in ("energy_distance", "mmd"):
        if metric in metrics:
            out[f"{metric}_sd"] = grouped[metric].std()
    out["runs"] = runs.groupby("model").size()
    order = [m for m in ORDER if m in out.index] + sorted(set(out.index) - set(ORDER))
    return out.loc[order]


def markdown(frame: pd.DataFrame, metrics: list[str]) -> str:
    """Markdown table with the best model of each metric in bold."""
    header = ["model", *(COLUMNS.get(m, m) for m in metrics), "runs"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    timing = {"train_s", "predict_s"}
    best = {}
    for metric in metrics:
        if metric in timing:
            continue
        column = frame[metric]
        if column.isna().all():
            continue
        best[metric] = column.idxmin() if metric in LOWER_IS_BETTER else column.idxmax()
    for model, row in frame.iterrows():
        cells = [_name(model)]
        for metric in metrics:
            value = row[metric]
            text = (
                "n/a"
                if pd.isna(value)
                else f"{value:.3f}"
                if metric not in timing
                else f"{value:.1f}"
            )
            if f"{metric}_sd" in row and not pd.isna(row[f"{metric}_sd"]):
                text += f" ({row[f'{metric}_sd']:.2f})"
            if best.get(metric) == model:
                text = f"**{text}**"
            cells.append(text)
        cells.append(str(int(row["runs"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_split_figure(table: pd.DataFrame, metric: str, path: Path, title: str) -> None:
    """Grouped bars of a metric per held-out split and model (mean over seeds)."""
    pivot = table.pivot_table(index="split", columns="model", values=metric, aggfunc="mean")
    models = [m for m in ORDER if m in pivot.columns]
    pivot = pivot[models + sorted(set(pivot.columns) - set(models))]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    pivot.rename(columns=lambda m: NAMES.get(m, m)).plot.bar(ax=ax, width=0.8)
    ax.set_yscale("log")
    ax.set_ylabel(COLUMNS.get(metric, metric) + " (log scale)")
    ax.set_xlabel("held out")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    plt.setp(ax.get_xticklabels(), rotation=0)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


MAIN_METRICS = [
    "energy_distance",
    "mmd",
    "wasserstein2",
    "sinkhorn",
    "pearson_delta_top50",
    "de_overlap_top50",
    "own_deviation_top50",
    *FIT,
    "train_s",
    "predict_s",
]
SHORT_METRICS = [
    "energy_distance",
    "mmd",
    "pearson_delta_top50",
    "own_deviation_top50",
    *FIT,
    "train_s",
]
DEFAULT = "calmflow@decoding=residual"
TASK_TITLES = {
    "kang": "Kang 2018",
    "norman": "Norman 2019",
    "kang_counts": "Kang 2018 (counts)",
    "norman_unseen": "Norman 2019, genes never measured",
}


def task_section(task: str, figures: Path, out: Path) -> list[str]:
    """The main table of a task, its per-split energy distances and figure."""
    table = pd.read_csv(RESULTS / f"{task}.csv")
    text = [(RESULTS / f"{task}.md").read_text()]
    metrics = [m for m in MAIN_METRICS if m in table]
    pairs = table["perturbation"].map(cfs.data.is_combination).astype(bool)
    if task == "norman_unseen" and pairs.any():
        # the gene alone, and the pairs holding it (one or both components never measured)
        text.append("The held-out gene alone:\n")
        text.append(markdown(summary(table[~pairs], metrics), metrics))
        text.append(
            "\nThe pairs holding the held-out gene (its partner measured alone, except in "
            "`SET+KLF1`, where neither is); the nearest-neighbour baseline is here the "
            "additive expectation with the nearest neighbour standing in for the unseen gene:\n"
        )
        text.append(markdown(summary(table[pairs], metrics), metrics))
        table = table[~pairs]
    else:
        text.append(markdown(summary(table, metrics), metrics))
    figure = figures / f"{task}_energy_distance.png"
    per_split_figure(table, "energy_distance", figure, f"{task}: energy distance per split")
    text.append(f"\n![energy distance per split]({figure.relative_to(out.parent)})\n")
    pivot = table.pivot_table(
        index="split", columns="model", values="energy_distance", aggfunc="mean"
    )
    models = [m for m in ORDER if m in pivot.columns]
    pivot = pivot[models + sorted(set(pivot.columns) - set(models))].rename(columns=_name)
    text.append("Energy distance per split (mean over seeds and perturbations):\n")
    text.append(pivot.to_markdown(floatfmt=".3f") + "\n")
    return text


def singles_section() -> list[str]:
    """Norman: the fit of each training single, mean over folds and seeds, weakest first."""
    fit = pd.read_csv(RESULTS / "norman_fit.csv")
    singles = fit[~fit["perturbation"].map(cfs.data.is_combination).astype(bool)]
    models = [m for m in (DEFAULT, "cfm_control", "mean_shift") if m in set(singles["model"])]
    per_single = (
        singles[singles["model"].isin(models)]
        .groupby(["perturbation", "model"])["pearson_delta_top50"]
        .mean()
        .unstack("model")[models]
        .sort_values(DEFAULT)
    )
    # the mean and weakest single of each trained model, then their mean over models
    runs = singles.groupby(["model", "split", "seed"])["pearson_delta_top50"]
    per_run = pd.DataFrame({"mean": runs.mean(), "weakest": runs.min()}).groupby("model").mean()
    lines = [
        "### The fit of the training singles",
        "",
        "Each single perturbation of the training set predicted from the control cells by the",
        "model trained on it, Pearson delta top-50 against its training cells; per trained model",
        "(fold and seed) the mean over its singles and its weakest single, averaged over the 9",
        "models:",
        "",
        "| model | mean over singles | weakest single |",
        "|---|---:|---:|",
    ]
    for model in models:
        row = per_run.loc[model]
        lines.append(f"| {_name(model)} | {row['mean']:.3f} | {row['weakest']:.3f} |")
    lines += ["", "The weakest singles (mean over folds and seeds):", ""]
    lines.append(per_single.head(8).rename(columns=_name).to_markdown(floatfmt=".3f"))
    return ["\n".join(lines)]


def decoding_section() -> list[str]:
    """Residual-kept against inverse-PCA decoding, from the same trained models."""
    metrics = ["energy_distance", "mmd", "pearson_delta_top50", "own_deviation_top50", *FIT]
    lines = [(RESULTS / "decoding.md").read_text()]
    header = ["task", "decoding", *(COLUMNS.get(m, m) for m in metrics), "runs"]
    lines += ["| " + " | ".join(header) + " |", "|---|---" + "|---:" * (len(header) - 2) + "|"]
    for task in ("kang", "norman", "kang_counts"):
        path = RESULTS / f"{task}.csv"
        if not path.exists():
            continue
        table = pd.read_csv(path)
        table = table[table["model"].str.startswith("calmflow@decoding=")]
        frame = summary(table, metrics)
        for model, row in frame.iterrows():
            decoding = model.split("=")[-1]
            label = "residual (default)" if decoding == "residual" else "inverse PCA"
            cells = [TASK_TITLES[task], label] + [f"{row[m]:.3f}" for m in metrics]
            lines.append("| " + " | ".join([*cells, str(int(row["runs"]))]) + " |")
    return [lines[0], "\n".join(lines[1:])]


def paired_differences(defaults: pd.DataFrame, variants: pd.DataFrame) -> str:
    """Each variant minus the defaults on the same split, perturbation and seed.

    The differences are paired, so the spread between splits (which dominates the standard
    deviations of the summary table) cancels; the standard error is over the pairs.
    """
    keys = ["split", "perturbation", "seed"]
    metrics = ["energy_distance", "pearson_delta_top50", "fit_pearson_delta_top50_min"]
    metrics = [m for m in metrics if m in variants and m in defaults]
    base = defaults.set_index(keys)[metrics]
    lines = [
        "Paired differences from the defaults (same split, perturbation and seed; mean and"
        " standard error over the pairs):",
        "",
        "| model | " + " | ".join(f"change in {COLUMNS.get(m, m)}" for m in metrics) + " | pairs |",
        "|---" + "|---:" * (len(metrics) + 1) + "|",
    ]
    for model, group in variants.groupby("model", sort=True):
        joined = group.set_index(keys)[metrics].join(base, rsuffix="_default", how="inner")
        cells = []
        for m in metrics:
            change = joined[m] - joined[f"{m}_default"]
            error = change.std(ddof=1) / np.sqrt(len(change)) if len(change) > 1 else np.nan
            cells.append(f"{change.mean():+.3f} ({error:.3f})")
        lines.append(f"| `{model}` | " + " | ".join(cells) + f" | {len(joined)} |")
    return "\n".join(lines)


def ablations_section() -> list[str]:
    """Variants of the defaults (``ablations_*.csv``) beside the defaults' own rows."""
    files = [f for f in sorted(RESULTS.glob("ablations_*.csv")) if not f.stem.endswith("_fit")]
    if not files:
        return []
    variants = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    text = [(RESULTS / "ablations.md").read_text()]
    for task in ("kang", "norman"):
        rows = variants[variants["task"] == task]
        if rows.empty:
            continue
        main = pd.read_csv(RESULTS / f"{task}.csv")
        defaults = main[main["model"] == DEFAULT].assign(
            model="calmflow (0.2 defaults, text prompt)"
        )
        table = pd.concat([defaults, rows], ignore_index=True)
        metrics = [m for m in SHORT_METRICS if m in table]
        frame = summary(table, metrics)
        text.append(f"### {TASK_TITLES[task]}\n")
        text.append(markdown(frame, metrics))
        text.append(paired_differences(defaults, rows))
        pivot = table.pivot_table(
            index="model", columns="split", values="energy_distance", aggfunc="mean"
        )
        text.append("Energy distance per split (mean over seeds and perturbations):\n")
        cells = pivot.map(lambda v: "not run" if pd.isna(v) else f"{v:.3f}")
        text.append(cells.to_markdown() + "\n")
    return text


def scale_section(figures: Path, out: Path) -> list[str]:
    """Training and prediction cost and peak memory per size (``scale.py``), with a figure."""
    table = pd.read_csv(RESULTS / "scale.csv").sort_values(["phase", "n_cells"])
    text = [(RESULTS / "scale.md").read_text()] if (RESULTS / "scale.md").exists() else []
    shown = table[["n_cells", "phase", "seconds", "cells_per_second", "us_per_cell"]].copy()
    shown["peak RSS (GB)"] = table["peak_rss_gb"]
    shown.columns = ["cells", "phase", "seconds", "cells/s", "µs per cell", "peak RSS (GB)"]
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    for row in shown.itertuples(index=False):
        cells, phase, seconds, rate, per_cell, rss = row
        lines.append(
            f"| {cells:,} | {phase} | {seconds:.1f} | {rate:,.0f} | {per_cell:.0f} | {rss:.2f} |"
        )
    text.append("\n".join(lines))
    figures.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for phase, part in table.groupby("phase"):
        axes[0].plot(part["n_cells"], part["us_per_cell"], marker="o", label=phase)
        axes[1].plot(part["n_cells"], part["peak_rss_gb"], marker="o", label=phase)
    for axis, label in zip(axes, ["µs of one core per cell", "peak RSS (GB)"], strict=True):
        axis.set_xscale("log")
        axis.set_xlabel("cells (2,000 genes, on disk)")
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.legend()
    axes[1].axhline(4, color="grey", linestyle="--", linewidth=1)  # the 1M target
    axes[1].set_ylim(0, max(4.5, float(table["peak_rss_gb"].max()) * 1.1))
    figure.tight_layout()
    figure.savefig(figures / "scale.png", dpi=120)
    plt.close(figure)
    relative = (figures / "scale.png").relative_to(out.parent)
    text.append(f"![Cost per cell and peak memory against the number of cells]({relative})")
    return text


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    figures = args.out.parent / "_static" / "benchmarks"
    text = [(RESULTS / "header.md").read_text()]
    if (RESULTS / "defaults.md").exists():
        text.append((RESULTS / "defaults.md").read_text())
    for task in ("kang", "norman", "kang_counts", "norman_unseen"):
        if (RESULTS / f"{task}.csv").exists():
            text += task_section(task, figures, args.out)
        if task == "norman" and (RESULTS / "norman_fit.csv").exists():
            text += singles_section()
    if (RESULTS / "decoding.md").exists():
        text += decoding_section()
    text += ablations_section()
    if (RESULTS / "scale.csv").exists():
        text += scale_section(figures, args.out)
    # tables written by other scripts, with their own headings
    names = ("training_speed.md", "prediction_speed.md", "rollout_speed.md")
    names += ("prompt_encoders.md", "detection.md", "validation.md", "threads.md", "gpu.md")
    for name in (*names, "demo.md"):
        if (RESULTS / name).exists():
            body = (RESULTS / name).read_text()
            body = body.replace("\n# ", "\n## ")  # top-level headings become sections
            text.append("#" + body if body.startswith("# ") else body)
    args.out.write_text("\n\n".join(part.strip() for part in text) + "\n")


if __name__ == "__main__":
    main()
