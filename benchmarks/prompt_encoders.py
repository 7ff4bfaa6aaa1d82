"""What the prompt buys: CaLMFlowPerturb with four ways of reading its condition.

Variants (every other argument at its default)
---------------------------------------------
``lm``
    The language model's own token embeddings of the text prompt (the paper; the default).
``minilm``
    The frozen all-MiniLM-L6-v2 sentence embedding of the same prompt, mapped to prefix tokens.
``minilm_descriptions``
    As ``minilm``, with ``perturbation_descriptions`` from ``benchmarks/descriptions.py`` in the
    prompt ("KLF1 (over-expression of Kruppel-like factor 1, ...)").
``onehot``
    No text: one-hot codes of the perturbation's components, the cell type and covariates,
    mapped to prefix tokens (a pair is the sum of its singles' codes).

Tasks are those of ``benchmarks/run.py``: ``kang`` (every cell type's stimulated cells held out
in turn) and ``norman`` (K562 pairs whose singles are seen, held out in 3 folds).

Each (task, variant) is written to its own ``benchmarks/results/prompts/{task}-{variant}.csv``,
so variants can run in parallel processes (pin each to its own cores, e.g. ``taskset -c 0`` with
``OMP_NUM_THREADS=1``), and an interrupted run resumes at the held-out split where it stopped
(finished files are skipped unless ``--overwrite``). ``--report`` writes the
summary table ``benchmarks/results/prompt_encoders.md``, which ``benchmarks/report.py`` puts
into ``docs/benchmarks.md``.

Usage (both tasks, every variant, three seeds, then the table)::

    HF_HUB_OFFLINE=1 python benchmarks/prompt_encoders.py kang norman --seeds 0 1 2 --report
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
import run

RESULTS = Path(__file__).parent / "results" / "prompts"
VARIANTS = {
    "lm": "calmflow",
    "minilm": "calmflow[prompt_encoder=minilm]",
    "minilm_descriptions": "calmflow[prompt_encoder=minilm,descriptions=True]",
    "onehot": "calmflow[prompt_encoder=onehot]",
}
LABELS = {
    "lm": "LM token embeddings (default)",
    "minilm": "MiniLM sentence embedding",
    "minilm_descriptions": "MiniLM + perturbation descriptions",
    "onehot": "one-hot codes (no text)",
}
METRICS = {
    "kang": ["energy_distance", "mmd", "pearson_delta_top50", "own_deviation_top50"],
    "norman": ["energy_distance", "mmd", "pearson_delta_top50", "own_deviation_top50"],
}
HEADERS = {
    "energy_distance": "energy distance",
    "mmd": "MMD",
    "pearson_delta_top50": "Pearson delta top-50",
    "own_deviation_top50": "own deviation top-50",
}
LOWER_IS_BETTER = {"energy_distance", "mmd"}
REFERENCE = "mean_shift"  # from benchmarks/results/{task}.csv: the additive expectation on Norman
REFERENCE_LABEL = "mean shift / additive"


def run_variants(
    tasks: list[str],
    variants: list[str],
    seeds: list[int],
    n_folds: int,
    overwrite: bool,
    cell_types: list[str] | None = None,
) -> None:
    """Run each (task, variant) not yet on disk and write its CSV.

    Rows are saved after each held-out split in ``{task}-{variant}.partial.csv``, so an
    interrupted run resumes at the next split; the file is renamed when every split is done.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    for task_name in tasks:
        task = run.kang_task(cell_types) if task_name == "kang" else run.norman_task(n_folds)
        for variant in variants:
            out = RESULTS / f"{task_name}-{variant}.csv"
            partial = out.with_suffix(".partial.csv")
            if overwrite:
                out.unlink(missing_ok=True)
                partial.unlink(missing_ok=True)
            if out.exists():
                print(f"{out} exists; skipped (--overwrite to redo)", flush=True)
                continue
            done = pd.read_csv(partial) if partial.exists() else pd.DataFrame()
            finished = set(done["split"].astype(str)) if len(done) else set()
            remaining = [split for split in task.splits if str(split.name) not in finished]

            def save(table: pd.DataFrame, variant=variant, partial=partial, done=done) -> None:
                table = table.copy()
                table.insert(3, "variant", variant)
                pd.concat([done, table], ignore_index=True).to_csv(partial, index=False)

            if remaining:
                todo = dataclasses.replace(task, splits=remaining)
                run.run(todo, [VARIANTS[variant]], seeds, [None], on_split=save)
            partial.rename(out)


def _seed_means(table: pd.DataFrame, metric: str) -> pd.Series:
    """Per variant, the mean over splits and perturbations of each seed."""
    return table.groupby(["variant", "seed"])[metric].mean()


def summary_markdown(table: pd.DataFrame, task: str, reference: pd.DataFrame | None = None) -> str:
    """Table of mean ± sd over seeds (of the per-seed means over splits) and training time.

    ``reference``: rows of ``benchmarks/run.py`` for the same task of a baseline, shown last.
    """
    metrics = METRICS[task]
    header = ["prompt encoder", *(HEADERS[m] for m in metrics), "train (s, median)", "runs"]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    variants = [v for v in VARIANTS if v in set(table["variant"])]
    means = {m: _seed_means(table, m).groupby("variant").agg(["mean", "std"]) for m in metrics}
    best = {
        m: (means[m]["mean"].idxmin() if m in LOWER_IS_BETTER else means[m]["mean"].idxmax())
        for m in metrics
    }
    for variant in variants:
        cells = [LABELS[variant]]
        for metric in metrics:
            mean, sd = means[metric].loc[variant]
            digits = 4 if metric == "mmd" else 3
            text = f"{mean:.{digits}f} ± {sd:.{digits}f}"
            cells.append(f"**{text}**" if best[metric] == variant else text)
        rows = table[table["variant"] == variant]
        fits = rows.drop_duplicates(["split", "seed"])
        cells += [f"{fits['train_s'].median():.0f}", str(len(fits))]
        lines.append("| " + " | ".join(cells) + " |")
    if reference is not None and not reference.empty:
        cells = [f"*{REFERENCE_LABEL}, for reference*"]
        for metric in metrics:
            digits = 4 if metric == "mmd" else 3
            cells.append(f"*{reference[metric].mean():.{digits}f}*")
        cells += ["", str(len(reference.drop_duplicates(["split", "seed"])))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_split_markdown(
    table: pd.DataFrame, by: str = "split", metric: str = "energy_distance"
) -> str:
    """Mean over seeds of one metric per held-out ``by`` (rows) and variant (columns)."""
    pivot = table.groupby([by, "variant"])[metric].mean().unstack("variant")
    pivot = pivot[[v for v in VARIANTS if v in pivot.columns]]
    header = ["held out", *(LABELS[v] for v in pivot.columns)]
    lines = ["| " + " | ".join(header) + " |", "|---" + "|---:" * (len(header) - 1) + "|"]
    for split, row in pivot.iterrows():
        best = row.idxmin() if metric in LOWER_IS_BETTER else row.idxmax()
        cells = [f"**{v:.3f}**" if name == best else f"{v:.3f}" for name, v in row.items()]
        lines.append("| " + " | ".join([str(split), *cells]) + " |")
    return "\n".join(lines)


def report(out: Path) -> None:
    """Write the summary of every CSV in ``results/prompts`` to ``out``."""
    files = sorted(RESULTS.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"No results in {RESULTS}; run the variants first.")
    table = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    text = ["## Prompt encoders", "", (out.parent / "prompt_encoders_intro.md").read_text()]
    for task in ("kang", "norman"):
        rows = table[table["task"] == task]
        if rows.empty:
            continue
        title = {
            "kang": "Kang 2018, each cell type held out",
            "norman": "Norman 2019, held-out K562 pairs",
        }[task]
        main_table = RESULTS.parent / f"{task}.csv"
        reference = None
        if main_table.exists():
            reference = pd.read_csv(main_table)
            reference = reference[reference["model"] == REFERENCE]
        by = "split" if task == "kang" else "perturbation"
        text += [f"### {title}", "", summary_markdown(rows, task, reference), ""]
        text += [
            "Energy distance per held-out "
            + ("cell type" if task == "kang" else "pair")
            + " (mean over seeds):",
            "",
            per_split_markdown(rows, by),
            "",
        ]
    conclusions = out.parent / "prompt_encoders_conclusions.md"
    if conclusions.exists():
        text.append(conclusions.read_text())
    out.write_text("\n".join(text).rstrip() + "\n")
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", help="kang and/or norman")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--n-folds", type=int, default=3, help="norman: folds of pairs")
    parser.add_argument("--cell-types", nargs="+", default=None, help="kang: types to hold out")
    parser.add_argument("--overwrite", action="store_true", help="redo variants already on disk")
    parser.add_argument("--report", action="store_true", help="write the summary table")
    parser.add_argument("--report-out", type=Path, default=RESULTS.parent / "prompt_encoders.md")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.tasks) - {"kang", "norman"})
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from kang and norman.")
    if not args.tasks and not args.report:
        parser.error("name a task to run, or --report to summarise what is on disk.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    run_variants(
        args.tasks, args.variants, args.seeds, args.n_folds, args.overwrite, args.cell_types
    )
    if args.report:
        report(args.report_out)


if __name__ == "__main__":
    main()
