"""Training and prediction cost and peak memory from 10k to 1M cells, from files on disk.

For each size, :func:`calmflow_sc.datasets.write_simulated` writes the simulated experiment
(2,000 genes, sparse X) to an .h5ad in blocks; then, each in a fresh process so that its peak
resident memory is its own:

* **train**: open the file ``backed="r"``, set it up, build the default model and train one
  epoch (``max_epochs=1``), then save it;
* **predict**: load the model, open the file ``backed="r"`` and predict every cell under
  ``IFNB``, streaming the gene-space predictions to an .h5ad (``output=path``).

Each row of the CSV (written after every finished size, so a stopped run keeps what it did)
holds the wall time, cells per second and peak RSS of one phase. Run it alone, pinned::

    OMP_NUM_THREADS=1 taskset -c 1 python benchmarks/scale.py --sizes 10000 100000 1000000 \
        --workdir /tmp/calmflow-scale --out benchmarks/results/scale.csv

``python benchmarks/report.py`` puts the table and the figure into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

PERTURBATION = "IFNB"


def peak_rss_gb() -> float:
    """Peak resident memory of this process, in GB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def train_phase(data: Path, model_dir: Path, accelerator: str = "cpu") -> dict:
    """Train the default model one epoch on the backed file; save it."""
    import anndata
    import scvi

    from calmflow_sc import CaLMFlowPerturb

    scvi.settings.seed = 0
    adata = anndata.read_h5ad(data, backed="r")
    start = time.perf_counter()
    CaLMFlowPerturb.setup_anndata(
        adata, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    )
    model = CaLMFlowPerturb(adata)
    model.train(max_epochs=1, accelerator=accelerator, enable_progress_bar=False)
    seconds = time.perf_counter() - start
    model.save(model_dir, overwrite=True)
    return {"seconds": seconds, "cells": adata.n_obs}


def predict_phase(data: Path, model_dir: Path, out: Path, accelerator: str = "cpu") -> dict:
    """Predict every cell of the backed file, streaming the predictions to ``out``."""
    import anndata

    from calmflow_sc import CaLMFlowPerturb

    model = CaLMFlowPerturb.load(model_dir, accelerator=accelerator)
    query = anndata.read_h5ad(data, backed="r")
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    model.predict(query, PERTURBATION, output=out)
    return {"seconds": time.perf_counter() - start, "cells": query.n_obs}


def run_phase(phase: str, size: int, workdir: Path, accelerator: str = "cpu") -> dict:
    """Run one phase in a fresh process and return its measurements."""
    command = [sys.executable, __file__, "--phase", phase, "--size", str(size)]
    command += ["--workdir", str(workdir), "--accelerator", accelerator]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{phase} at {size} cells failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/calmflow-scale"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/scale.csv"))
    parser.add_argument("--n-genes", type=int, default=2000)
    parser.add_argument("--accelerator", default="cpu", help="cpu or gpu (Lightning)")
    parser.add_argument("--phase", choices=["train", "predict"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir
    if args.phase is not None:  # a child process: one phase, one JSON line
        warnings.filterwarnings("ignore")
        data = workdir / f"cells_{args.size}.h5ad"
        model_dir = workdir / f"model_{args.size}"
        if args.phase == "train":
            result = train_phase(data, model_dir, args.accelerator)
        else:
            out = workdir / f"predicted_{args.size}.h5ad"
            result = predict_phase(data, model_dir, out, args.accelerator)
        result["peak_rss_gb"] = peak_rss_gb()
        print(json.dumps(result))
        return

    from calmflow_sc.datasets import write_simulated

    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        data = workdir / f"cells_{size}.h5ad"
        if not data.exists():
            start = time.perf_counter()
            write_simulated(data, size, n_genes=args.n_genes)
            print(f"wrote {size:,} cells in {time.perf_counter() - start:.0f} s", flush=True)
        for phase in ("train", "predict"):
            measured = run_phase(phase, size, workdir, args.accelerator)
            row = {
                "n_cells": size,
                "n_genes": args.n_genes,
                "phase": phase,
                "seconds": round(measured["seconds"], 2),
                "cells_per_second": round(measured["cells"] / measured["seconds"], 1),
                "us_per_cell": round(1e6 * measured["seconds"] / measured["cells"], 1),
                "peak_rss_gb": round(measured["peak_rss_gb"], 3),
                "threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                "machine": platform.processor() or platform.machine(),
            }
            rows.append(row)
            print(row, flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame(rows).to_csv(args.out, index=False)  # after every phase


if __name__ == "__main__":
    main()
