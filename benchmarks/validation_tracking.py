"""Does validation by held-out conditions track the real held-out score over training?

For each split of a task (``run.py``'s tasks), one model is trained for ``--budget`` times the
default number of epochs with ``validation="conditions"``, early stopping off, and two scores
are logged at every epoch: the validation score (``heldout_distance_validation``, conditions
held out of the training split) and the same score for the split's real held-out conditions
(``true_distance_validation``: energy distance in model space of 128 predicted cells to 256
real ones), beside ``elbo_validation`` (held-out cells of the training conditions). One CSV row
per (split, seed, epoch).

``--summary`` then reads the CSV and writes, per task, the Spearman correlation of the two
curves and the real held-out score at the epoch each rule picks: the last epoch of the budget,
the lowest validation loss of held-out cells (the old rule), the lowest held-out-condition
score (the new rule, with the patience of ``train``), and the best possible (an oracle).

Usage::

    python benchmarks/validation_tracking.py kang --seeds 0 --budget 2 \
        --out benchmarks/results/validation_tracking_kang.csv
    python benchmarks/validation_tracking.py --summary benchmarks/results/validation_tracking_*.csv
"""

from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scvi
import torch
from scipy.stats import spearmanr

import calmflow_sc as cfs
from calmflow_sc.train import HeldOutConditionScore, choose_heldout_conditions

TASKS = ("kang", "kang_counts", "norman", "simulated")


class RealHeldOutScore(HeldOutConditionScore):
    """The held-out score of the split's own held-out conditions, set up when training starts."""

    def __init__(self, model: cfs.CaLMFlowPerturb, conditions: pd.DataFrame, cells: list):
        super().__init__(
            prompts=(torch.zeros(0), torch.zeros(0)),
            contexts=np.zeros(0, dtype=int),
            targets=[],
            kinds=(),
            name="true_distance",
        )
        self.model, self.conditions, self.cells = model, conditions, cells

    def on_fit_start(self, trainer, pl_module) -> None:
        """Map the real cells to model space and encode the prompts (the PCA is now fitted)."""
        model = self.model
        space = model.condition_space
        rows = space.condition_rows(self.conditions)
        self.prompts = model.condition_prompts(self.conditions, strict=False)
        self.contexts = np.where(rows >= 0, rows % space.n_contexts, 0)
        representation = model.module.representation
        with torch.no_grad():
            self.targets = [
                representation.transform_matrix(x).float().cpu().numpy() for x in self.cells
            ]
        self.kinds = ("real",) * len(self.cells)


def _more_conditions(model: cfs.CaLMFlowPerturb, fraction: float, seed: int) -> pd.DataFrame:
    """The conditions ``validation="conditions"`` would hold out with another ``fraction``."""
    space = model.condition_space
    is_control, conditions, _ = space.registered_conditions(model.adata_manager)
    table = space.table()
    counts = np.bincount(conditions[~is_control], minlength=len(table))
    builder = space.builder
    chosen = choose_heldout_conditions(
        table,
        counts,
        builder.perturbation_key,
        builder.control_value,
        space.n_contexts,
        seed,
        fraction=fraction,
    )
    return table.loc[chosen.rows].reset_index(drop=True)


def track(
    task,
    seeds: list[int],
    budget: float,
    splits=None,
    model=None,
    out: Path | None = None,
    fraction: float | None = None,
):
    """Train on each split with held-out-condition validation; one row per epoch.

    With ``out``, the rows so far are written there after every run; ``fraction`` holds out
    that share of the candidate conditions of each kind instead of the default.
    """
    import run

    rows = []
    settings = run.parse_model(model or "calmflow")[1]
    for split in task.splits:
        if splits is not None and split.name not in splits:
            continue
        train = task.adata[split.train].copy()
        test = task.adata[split.test]
        keys = ["condition"] + ([task.cell_type_key] if task.cell_type_key else [])
        keys += list(task.covariate_keys or [])
        groups = test.obs[keys].astype(str).drop_duplicates().reset_index(drop=True)
        cells = []
        for _, group in groups.iterrows():
            mask = np.all([test.obs[k].astype(str) == group[k] for k in keys], axis=0)
            sample = np.flatnonzero(mask)[:256]
            cells.append(np.asarray(run._dense(test.X[sample]), dtype=np.float32))
        for seed in seeds:
            scvi.settings.seed = seed
            cfs.CaLMFlowPerturb.setup_anndata(
                train,
                "condition",
                "control",
                cell_type_key=task.cell_type_key,
                covariate_keys=task.covariate_keys,
            )
            fitted = cfs.CaLMFlowPerturb(train, **settings)
            n_train = int(np.ceil(0.9 * (train.obs["condition"] != "control").sum()))
            epochs = max(2, round(budget * cfs.train.default_max_epochs(n_train)))
            real = RealHeldOutScore(fitted, groups, cells)
            validation = "conditions"
            if fraction is not None:
                validation = _more_conditions(fitted, fraction, seed)
            fitted.train(
                max_epochs=epochs,
                validation=validation,
                early_stopping=False,
                callbacks=[real],
                enable_progress_bar=False,
                enable_model_summary=False,
                accelerator="cpu",
            )
            history = fitted.history
            frame = pd.concat(
                [
                    history[key]
                    for key in ("heldout_distance_validation", "true_distance_validation")
                ]
                + [history["elbo_validation"]],
                axis=1,
            )
            frame = frame.reset_index().rename(columns={"index": "epoch"})
            chosen = history["heldout_conditions"]
            names = [c for c in chosen.columns if c not in ("kind", "n_cells", "best_epoch")]
            frame["heldout"] = "; ".join(
                f"{row['kind']}:" + "/".join(row[names]) for _, row in chosen.iterrows()
            )
            frame.insert(0, "seed", seed)
            frame.insert(0, "split", split.name)
            frame.insert(0, "task", task.name)
            frame["default_epochs"] = cfs.train.default_max_epochs(n_train)
            rows.append(frame)
            if out is not None:
                pd.concat(rows, ignore_index=True).to_csv(out, index=False)
            last = frame.iloc[-1]
            print(
                f"{task.name} {split.name} seed={seed}: {len(frame)} epochs, validation "
                f"{last['heldout_distance_validation']:.3f}, real "
                f"{last['true_distance_validation']:.3f}",
                flush=True,
            )
    return pd.concat(rows, ignore_index=True)


def pick(curve: np.ndarray, patience: int) -> int:
    """The epoch early stopping would keep: the lowest value before ``patience`` misses."""
    best, best_epoch, waited = np.inf, 0, 0
    for epoch, value in enumerate(curve):
        if value < best:
            best, best_epoch, waited = value, epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    return best_epoch


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per split and seed: curve correlation and the real score at each rule's epoch."""
    out = []
    for (task, split, seed), run_rows in table.groupby(["task", "split", "seed"], sort=False):
        real = run_rows["true_distance_validation"].to_numpy()
        validation = run_rows["heldout_distance_validation"].to_numpy()
        elbo = run_rows["elbo_validation"].to_numpy()
        default = int(run_rows["default_epochs"].iloc[0])
        patience = max(5, len(run_rows) // 10)
        out.append(
            {
                "task": task,
                "split": split,
                "seed": seed,
                "spearman": spearmanr(validation, real).statistic,
                "last": real[-1],
                "default_budget": real[min(default, len(real)) - 1],
                "cells_rule": real[pick(elbo, patience)],
                "conditions_rule": real[pick(validation, patience)],
                "oracle": real.min(),
            }
        )
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> None:
    """Track the scores, or (``--summary``) summarise tracked CSVs as a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", nargs="?", choices=TASKS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--budget", type=float, default=2.0)
    parser.add_argument("--splits", nargs="+", default=None)
    parser.add_argument("--model", default="calmflow", help="run.py's spec of the model")
    parser.add_argument("--fraction", type=float, default=None, help="share held out per kind")
    parser.add_argument("--n-folds", type=int, default=5)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--summary", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.summary:
        table = summary(pd.concat([pd.read_csv(p) for p in args.summary], ignore_index=True))
        means = table.groupby("task").mean(numeric_only=True).drop(columns="seed")
        means["n"] = table.groupby("task").size()
        print(means.round(3).to_markdown())
        return
    if args.task is None or args.out is None:
        parser.error("give a task and --out (or --summary CSVs)")
    import run

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    task = {
        "kang": lambda: run.kang_task(None),
        "kang_counts": lambda: run.kang_counts_task(None),
        "norman": lambda: run.norman_task(args.n_folds),
        "simulated": lambda: run.simulated_task(None),
    }[args.task]()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    track(task, args.seeds, args.budget, args.splits, args.model, args.out, args.fraction)


if __name__ == "__main__":
    main()
