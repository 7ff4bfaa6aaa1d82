"""Training speed by number of torch threads, alone and beside another job.

Trains CaLMFlowPerturb on Kang 2018 (one cell type's stimulated cells held out; ``--task
simulated`` for the simulated data) for a fixed
number of epochs with 1 thread and with every core, each alone and beside a competing job (a
second process multiplying matrices with torch's default threads, as another analysis or
benchmark would), for the default backbone and a larger one; writes seconds per epoch and the
ratio to one thread alone. Run it with nothing else on the machine.

Usage::

    python benchmarks/threads.py --epochs 3 --out benchmarks/results/threads.md
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
import warnings
from pathlib import Path

import torch

import calmflow_sc as cfs

BACKBONES = {
    "default": {},
    "larger": {"hidden_size": 512, "n_layers": 4, "n_heads": 8},
}


def _competing_job(stop) -> None:
    """Small matrix products with torch's default threads (as another training would)."""
    torch.set_num_threads(usable_cores())
    a = torch.randn(256, 128)
    w = torch.randn(128, 128) / 128**0.5
    while not stop.is_set():
        a = torch.tanh(a @ w)


def training_seconds(adata, backbone: dict, n_threads: int, epochs: int, seed: int = 0) -> float:
    """Wall seconds per epoch of training with ``n_threads`` torch threads."""
    import scvi

    scvi.settings.seed = seed
    cfs.CaLMFlowPerturb.setup_anndata(adata, "condition", "control", cell_type_key="cell_type")
    model = cfs.CaLMFlowPerturb(adata, **backbone)
    start = time.perf_counter()
    model.train(
        max_epochs=epochs,
        num_threads=n_threads,
        early_stopping=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    return (time.perf_counter() - start) / epochs


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - not Linux


def measure(epochs: int, backbones: list[str], task: str = "kang") -> list[dict]:
    """Every backbone x thread count x situation; one row each."""
    from training_speed import training_data

    adata = training_data(task)
    cores = usable_cores()
    rows = []
    for name in backbones:
        for busy in (False, True):
            spawn = multiprocessing.get_context("spawn")  # a forked child's OpenMP can hang
            stop = spawn.Event()
            job = None
            if busy:
                job = spawn.Process(target=_competing_job, args=(stop,), daemon=True)
                job.start()
                time.sleep(3.0)  # until it computes
            try:
                for n_threads in sorted({1, cores}):
                    seconds = training_seconds(adata.copy(), BACKBONES[name], n_threads, epochs)
                    rows.append(
                        {"backbone": name, "busy": busy, "threads": n_threads, "s_epoch": seconds}
                    )
                    print(rows[-1], flush=True)
            finally:
                stop.set()
                if job is not None:
                    job.join(timeout=10)
    return rows


def report(rows: list[dict], epochs: int) -> str:
    """A markdown table: seconds per epoch and the ratio to one thread alone."""
    lines = [
        f"Training seconds per epoch ({epochs} epochs each, {usable_cores()} cores, "
        f"torch {torch.__version__}); ratio: to one thread on an idle machine.",
        "",
        "| backbone | machine | threads | s / epoch | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        alone = next(
            r["s_epoch"]
            for r in rows
            if r["backbone"] == row["backbone"] and not r["busy"] and r["threads"] == 1
        )
        machine = "beside another job" if row["busy"] else "idle"
        lines.append(
            f"| {row['backbone']} | {machine} | {row['threads']} | {row['s_epoch']:.2f} | "
            f"{row['s_epoch'] / alone:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    parser.add_argument("--task", choices=["kang", "simulated"], default="kang")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    table = report(measure(args.epochs, args.backbones, args.task), args.epochs)
    print(table)
    if args.out is not None:
        args.out.write_text(table)
    return table


if __name__ == "__main__":
    main()
