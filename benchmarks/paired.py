"""Paired differences between two runs of ``benchmarks/run.py`` (e.g. before and after a change).

Rows are paired by task, split, perturbation, model and seed; the table gives, for every score,
the number of pairs, the mean of each run, and the mean and largest absolute difference.

Usage::

    python benchmarks/paired.py BEFORE_DIR AFTER_DIR --tasks kang norman --out table.md
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

KEYS = ["task", "split", "perturbation", "model", "seed"]
SCORES = [
    "energy_distance",
    "mmd",
    "wasserstein2",
    "pearson_delta_top50",
    "r2_top50",
    "own_deviation_top50",
    "fit_pearson_delta_top50",
    "fit_energy_distance",
]


def paired_table(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """One row per score: pairs, the two means, mean and largest absolute difference."""
    merged = before.merge(after, on=KEYS, suffixes=("_before", "_after"))
    if merged.empty:
        raise ValueError("The two runs share no (task, split, perturbation, model, seed) row.")
    rows = []
    for score in SCORES:
        if f"{score}_before" not in merged:
            continue
        difference = merged[f"{score}_after"] - merged[f"{score}_before"]
        rows.append(
            {
                "score": score,
                "pairs": int(difference.notna().sum()),
                "before": merged[f"{score}_before"].mean(),
                "after": merged[f"{score}_after"].mean(),
                "mean difference": difference.mean(),
                "largest |difference|": difference.abs().max(),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tasks", nargs="+", default=["kang", "norman"])
    parser.add_argument("--out", type=Path, default=None, help="markdown file to write")
    parser.add_argument("--title", default=None, help="first line of the markdown")
    args = parser.parse_args(argv)
    sections = []
    for task in args.tasks:
        table = paired_table(
            pd.read_csv(args.before / f"{task}.csv"), pd.read_csv(args.after / f"{task}.csv")
        )
        sections.append(f"### {task}\n\n" + table.to_markdown(index=False, floatfmt=".3g"))
    title = args.title or f"Paired differences: {args.after} against {args.before}"
    text = "\n\n".join([title, *sections]) + "\n"
    print(text)
    if args.out is not None:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
