"""Training time of the default CaLMFlowPerturb against FlowMatchingBaseline and older versions.

Trains each model at its defaults on Kang 2018 with one cell type's stimulated cells held out
(the benchmark's split), one after the other in this process (or, for ``--reference``, in a
subprocess that imports an older checkout's ``src``), and writes the wall times and their
ratios. Run it alone: another process on the same cores distorts every number.

Usage::

    git worktree add /tmp/calmflow-e1618f3 e1618f3   # the version to compare with
    python benchmarks/training_speed.py --reference /tmp/calmflow-e1618f3 \
        --out benchmarks/results/training_speed.md

``--task simulated`` uses the package's simulated data instead (no files needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

import calmflow_sc as cfs

HELD_OUT = {"kang": "CD14+Mono", "simulated": "T cell"}


def training_data(task: str, n_genes: int = 200):
    """Training cells of the split: every cell but the held-out type's perturbed ones."""
    if task == "kang":
        adata = cfs.datasets.kang2018()
    else:
        adata = cfs.datasets.simulated(n_cells_per_group=40, n_genes=n_genes)
    held = (adata.obs["cell_type"] == HELD_OUT[task]) & (adata.obs["condition"] != "control")
    return adata[~held.to_numpy()].copy()


def time_calmflow(
    task: str,
    seed: int = 0,
    max_epochs: int | None = None,
    n_predict: int = 0,
    n_genes: int = 200,
) -> dict:
    """Seconds to train the default CaLMFlowPerturb, and how many steps it took.

    With ``n_predict``, also the seconds to predict that many cells (control cells of the
    training data, repeated) under a perturbation. ``n_genes`` sizes the simulated data.
    """
    import scvi

    train = training_data(task, n_genes)
    scvi.settings.seed = seed
    cfs.CaLMFlowPerturb.setup_anndata(train, "condition", "control", cell_type_key="cell_type")
    model = cfs.CaLMFlowPerturb(train)
    start = time.perf_counter()
    model.train(
        max_epochs=max_epochs,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    seconds = time.perf_counter() - start
    epochs = len(model.history["elbo_train"])
    result = {"seconds": seconds, "epochs": epochs, "steps": int(model.trainer.global_step)}
    if n_predict:
        import anndata

        controls = train[train.obs["condition"] == "control"]
        query = anndata.concat([controls] * (n_predict // controls.n_obs + 1))[:n_predict].copy()
        query.obs_names = [f"query{i}" for i in range(query.n_obs)]
        perturbation = next(p for p in train.obs["condition"].unique() if p != "control")
        start = time.perf_counter()
        model.predict(query, perturbation)
        result["predict_seconds"] = time.perf_counter() - start
        result["predict_cells"] = n_predict
    return result


def time_flow_matching(task: str, seed: int = 0, n_iterations: int | None = None) -> dict:
    """Seconds to train FlowMatchingBaseline (control source) at its defaults."""
    train = training_data(task)
    cfs.baselines.FlowMatchingBaseline.setup_anndata(
        train, "condition", "control", cell_type_key="cell_type"
    )
    settings = {} if n_iterations is None else {"n_iterations": n_iterations}
    baseline = cfs.baselines.FlowMatchingBaseline(train, source="control", seed=seed, **settings)
    start = time.perf_counter()
    baseline.train()
    return {"seconds": time.perf_counter() - start, "steps": baseline.n_iterations}


def time_reference(path: Path, task: str, **kwargs) -> dict:
    """:func:`time_calmflow` of another checkout, in a subprocess that imports its ``src``."""
    here = str(Path(__file__).parent)
    code = (
        f"import json, sys; sys.path.insert(0, {here!r}); import training_speed as t; "
        f"print('RESULT', json.dumps(t.time_calmflow({task!r}, **{kwargs!r})))"
    )
    env = dict(os.environ, PYTHONPATH=str(path / "src"))
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=list(HELD_OUT), default="kang")
    parser.add_argument("--reference", type=Path, default=None, help="older checkout to time")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="a shorter run than the defaults (tests)"
    )
    parser.add_argument(
        "--predict-cells", type=int, default=0, help="also time predicting this many cells"
    )
    parser.add_argument("--n-genes", type=int, default=200, help="genes of --task simulated")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    short = args.max_epochs
    n_predict = args.predict_cells
    settings = {"max_epochs": short, "n_predict": n_predict, "n_genes": args.n_genes}
    rows = {"CaLMFlowPerturb (this version)": time_calmflow(args.task, **settings)}
    rows["FlowMatchingBaseline (control source)"] = time_flow_matching(
        args.task, n_iterations=None if short is None else 10 * short
    )
    if args.reference is not None:
        rows[f"CaLMFlowPerturb ({args.reference.name})"] = time_reference(
            args.reference, args.task, **settings
        )
    ours = rows["CaLMFlowPerturb (this version)"]["seconds"]
    lines = [
        "| model | train (s) | steps | time / this version's |",
        "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {row['seconds']:.1f} | {row['steps']} | {row['seconds'] / ours:.2f} |"
        )
    command = "python benchmarks/training_speed.py " + " ".join(argv or sys.argv[1:])
    label, title = ("training-time", "Training time")
    if n_predict:
        label, title = ("prediction-time", f"Training and prediction time, {args.task}")
    header = [
        f"({label})=",
        f"## {title}",
        "",
        f"`{command}`: each model at its defaults"
        + (f" but {short} epoch(s)" if short else "")
        + f" on {args.task} with "
        f"{HELD_OUT[args.task]}'s perturbed cells held out, one after the other in one run "
        f"({platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}).",
        "",
    ]
    if n_predict:
        ours = rows["CaLMFlowPerturb (this version)"]["predict_seconds"]
        lines += [
            "",
            f"Prediction of {n_predict:,} control cells (after each model's training):",
            "",
            "| model | predict (s) | cells/s | time / this version's |",
            "|---|---:|---:|---:|",
        ]
        for name, row in rows.items():
            if "predict_seconds" in row:
                seconds = row["predict_seconds"]
                lines.append(
                    f"| {name} | {seconds:.1f} | {n_predict / seconds:,.0f} | "
                    f"{seconds / ours:.2f} |"
                )
    text = "\n".join(header + lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
