"""Tables of the condition-prior runs beside the committed baselines (seed 0 rows).

Usage::

    python benchmarks/prior_report.py [NAME] [--all-seeds] > benchmarks/results/NAME.md

Reads ``benchmarks/results/{NAME}_{task}.csv`` (``NAME`` defaults to ``condition_prior``;
written by ``run.py --out``) and the
committed tables of the same splits; one row per model and kind of held-out condition, with
the mean energy distance and Pearson delta top-50 and the number of predictions averaged.
Seed 0 only, or with ``--all-seeds`` every seed: each prediction's scores are first averaged
over its seeds (``seeds``: the most seeds of a prediction; deterministic baselines have one).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).parent / "results"
#: the committed tables each task's prior runs are compared with
REFERENCES = {
    "norman_unseen": ["norman_unseen_knowledge.csv", "norman_unseen.csv"],
    "norman": ["norman.csv"],
    "kang": ["kang.csv"],
}
SCORES = ["energy_distance", "pearson_delta_top50"]


def table(task: str, name: str = "condition_prior", all_seeds: bool = False) -> str | None:
    """The markdown table of one task, or ``None`` without its prior runs."""
    path = RESULTS / f"{name}_{task}.csv"
    if not path.exists():
        return None
    new = pd.read_csv(path)
    frames = [new] + [pd.read_csv(RESULTS / name) for name in REFERENCES[task]]
    rows = pd.concat(frames, ignore_index=True)
    rows = rows[rows["split"].isin(new["split"].unique())]
    if not all_seeds:
        rows = rows[rows["seed"] == 0]
    keys = ["model", "split", "perturbation"]
    rows = rows.drop_duplicates([*keys, "seed"], keep="first")
    seeds = rows.groupby(keys).size().rename("seeds")
    rows = rows.groupby(keys)[SCORES].mean().join(seeds).reset_index()
    if task == "norman_unseen":
        alone = rows["perturbation"] == rows["split"]
        rows["held out"] = alone.map({True: "gene alone", False: "pairs with the gene"})
    else:
        rows["held out"] = "pairs" if task == "norman" else "cell types"
    summary = rows.groupby(["held out", "model"])[SCORES].mean().round(3)
    summary["n"] = rows.groupby(["held out", "model"]).size()
    summary["seeds"] = rows.groupby(["held out", "model"])["seeds"].max()
    return summary.reset_index().to_markdown(index=False)


def main(argv: list[str] | None = None) -> None:
    """Print the tables of every task with prior runs."""
    args = list(sys.argv[1:] if argv is None else argv)
    all_seeds = "--all-seeds" in args
    args = [a for a in args if a != "--all-seeds"]
    name = args[0] if args else "condition_prior"
    seeds = "every seed" if all_seeds else "seed 0"
    print(f"# The condition prior (`condition_prior=True`, runs `{name}_*.csv`), {seeds}\n")
    for task in REFERENCES:
        text = table(task, name, all_seeds)
        if text is not None:
            print(f"## {task}\n\n{text}\n")


if __name__ == "__main__":
    main()
