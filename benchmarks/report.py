"""Write docs/benchmarks.md and its figures from the CSV files of ``benchmarks/run.py``.

Usage::

    python benchmarks/report.py

reads ``benchmarks/results/{kang,norman,ablations}.csv`` (those that exist), the table
``prompt_encoders.md`` that ``benchmarks/prompt_encoders.py --report`` writes, and the
hand-kept ``defaults.md``, ``rollout_speed.md`` and ``demo.md`` there, and writes
``docs/benchmarks.md`` and ``docs/_static/benchmarks/*.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

NAMES = {
    "calmflow": "CaLMFlowPerturb (defaults)",
    "cfm_control": "CFM, control source",
    "cfm_gaussian": "CFM, Gaussian source",
    "linear": "linear model",
    "mean_shift": "mean shift / additive",
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
    "train_s": "train (s, median)",
    "predict_s": "predict (s, median)",
}
LOWER_IS_BETTER = {"energy_distance", "mmd", "wasserstein2", "sinkhorn"}


def _name(spec: str) -> str:
    return NAMES.get(spec, f"`{spec}`")


def summary(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Mean (and sd of the main distances) per model over splits, perturbations and seeds."""
    grouped = table.groupby("model")
    out = grouped[metrics].mean()
    timing = [m for m in ("train_s", "predict_s") if m in metrics]
    out[timing] = grouped[timing].median()  # robust to runs slowed by other work
    for metric in ("energy_distance", "mmd"):
        if metric in metrics:
            out[f"{metric}_sd"] = grouped[metric].std()
    out["runs"] = grouped.size()
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
    pivot = pivot[[m for m in ORDER if m in pivot.columns]]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    pivot.rename(columns=NAMES).plot.bar(ax=ax, width=0.8)
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


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    figures = args.out.parent / "_static" / "benchmarks"
    text = [(RESULTS / "header.md").read_text()]
    main_metrics = [
        "energy_distance",
        "mmd",
        "wasserstein2",
        "sinkhorn",
        "pearson_delta_top50",
        "de_overlap_top50",
        "own_deviation_top50",
        "train_s",
        "predict_s",
    ]
    for task in ("kang", "norman"):
        path = RESULTS / f"{task}.csv"
        if not path.exists():
            continue
        table = pd.read_csv(path)
        text.append((RESULTS / f"{task}.md").read_text())
        frame = summary(table, main_metrics)
        de_path = RESULTS / f"{task}_de.csv"
        if de_path.exists():  # DE overlap as now defined, from a later seed-0 run
            de = pd.read_csv(de_path).groupby("model")["de_overlap_top50"].mean()
            frame["de_overlap_top50"] = de.reindex(frame.index)
        else:
            frame["de_overlap_top50"] = float("nan")
        text.append(markdown(frame, main_metrics))
        figure = figures / f"{task}_energy_distance.png"
        per_split_figure(table, "energy_distance", figure, f"{task}: energy distance per split")
        text.append(f"\n![energy distance per split]({figure.relative_to(args.out.parent)})\n")
        pivot = table.pivot_table(
            index="split", columns="model", values="energy_distance", aggfunc="mean"
        )
        pivot = pivot[[m for m in ORDER if m in pivot.columns]].rename(columns=_name)
        text.append("Energy distance per split (mean over seeds and perturbations):\n")
        text.append(pivot.to_markdown(floatfmt=".3f") + "\n")
    ablations = RESULTS / "ablations.csv"
    if ablations.exists():
        table = pd.read_csv(ablations)
        # one row per variant at the default temperature, plus the default at every temperature
        keep = table["model"].str.endswith("@tau=1.0") | table["model"].str.startswith("calmflow@")
        table = table[keep].copy()
        table["model"] = table["model"].str.replace("@tau=1.0", "", regex=False)
        table.loc[table["model"] == "calmflow", "model"] = "calmflow (defaults)"
        metrics = [
            "energy_distance",
            "mmd",
            "pearson_delta_top50",
            "own_deviation_top50",
            "train_s",
        ]
        text.append((RESULTS / "ablations.md").read_text())
        text.append(markdown(summary(table, metrics), metrics))
        pivot = table.pivot_table(
            index="model", columns="split", values="energy_distance", aggfunc="mean"
        )
        text.append("Energy distance per held-out cell type:\n")
        text.append(pivot.to_markdown(floatfmt=".3f") + "\n")
    # prompt_encoders.md is written by prompt_encoders.py --report, with its own sections
    for name in ("defaults.md", "prompt_encoders.md", "rollout_speed.md", "demo.md"):
        if (RESULTS / name).exists():
            body = (RESULTS / name).read_text()
            body = body.replace("\n# ", "\n## ")  # top-level headings become sections
            text.append("#" + body if body.startswith("# ") else body)
    args.out.write_text("\n\n".join(part.strip() for part in text) + "\n")


if __name__ == "__main__":
    main()
