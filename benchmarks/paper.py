"""The CaLMFlow paper's single-cell experiment: CINEMA-OT cytokines, 14 unseen conditions.

For users who have the CINEMA-OT file (Dong et al. 2023, Dryad doi:10.5061/dryad.4xgxd25g1;
see :func:`calmflow_sc.datasets.dong2023_cinemaot`) and a GPU. Not run in CI; its test runs
the smallest configuration on a small file in the deposit's schema.

Steps, as in the paper and the authors' code:

1. Quality control on the raw counts (cells with at least ``--min-genes`` genes and fewer than
   2,500, under 5% mitochondrial counts; genes in at least 3 cells), 10,000 counts per cell and
   ``log1p``, then the ``--n-top-genes`` (5,000) most variable genes.
2. The paper's split (:func:`calmflow_sc.data.cinemaot_splits`): 14 (cell type, cytokine,
   chronicity) conditions leave training together; every single attribute stays seen.
3. Every model is trained once per seed on the training cells, then predicts each held-out
   condition from the control cells of its cell type and chronicity (donor and chronicity in
   the prompt), and, with the fit, every training condition.
4. Scores of :func:`calmflow_sc.metrics.evaluate` in a fixed 50-component PCA of all cells,
   one row per (condition, model, seed) in ``--out`` (saved after every model and seed), and
   a table of means and standard deviations over the seeds in ``--summary``.

The paper's model: ``calmflow[language_model=EleutherAI/pythia-160m,prompt_encoder=lm,
n_components=1000,n_steps=16,beta=0.3,lr=5e-5,batch_size=128,epochs=100,precision=16-mixed]``
(``PAPER_MODEL``; it needs the Pythia weights from the Hugging Face hub). Usage::

    python benchmarks/paper.py dong2023_cinemaot.h5ad --accelerator gpu --seeds 0 1 2 \\
        --models paper calmflow cfm_gaussian cfm_control linear mean_shift control
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from sklearn.decomposition import PCA

import calmflow_sc as cfs

sys.path.insert(0, str(Path(__file__).parent))
import run

PAPER_MODEL = (
    "calmflow[language_model=EleutherAI/pythia-160m,prompt_encoder=lm,n_components=1000,"
    "n_steps=16,beta=0.3,lr=5e-5,batch_size=128,epochs=100,precision=16-mixed]"
)
SCORES = ("mmd", "energy_distance", "r2_all", "r2_top50", "pearson_delta_top50")


def preprocess(adata: AnnData, min_genes: int = 200, n_top_genes: int = 5000) -> AnnData:
    """The paper's quality control, normalisation and gene selection, on a copy."""
    import scanpy as sc

    counts = adata.layers.get("counts", adata.X)
    data = AnnData(counts.copy(), obs=adata.obs.copy(), var=adata.var[[]].copy())
    data.var["mt"] = data.var_names.str.upper().str.startswith("MT-")
    sc.pp.calculate_qc_metrics(data, qc_vars=["mt"], percent_top=None, inplace=True)
    keep = (
        (data.obs["n_genes_by_counts"] >= min_genes)
        & (data.obs["n_genes_by_counts"] < 2500)
        & (data.obs["pct_counts_mt"] < 5)
    )
    data = data[keep.to_numpy()].copy()
    sc.pp.filter_genes(data, min_cells=3)
    sc.pp.normalize_total(data, target_sum=1e4)
    sc.pp.log1p(data)
    if n_top_genes < data.n_vars:
        sc.pp.highly_variable_genes(
            data, n_top_genes=n_top_genes, min_mean=0.0125, max_mean=3, min_disp=0.5
        )
        data = data[:, data.var["highly_variable"].to_numpy()].copy()
    data.obs["condition"] = data.obs["perturbation"]
    return data


def cinemaot_task(adata: AnnData) -> run.Task:
    """The runner's task for the paper's split: references and training conditions."""
    splits = cfs.data.cinemaot_splits(adata)
    obs = adata.obs.astype(str)
    condition, cell_type, chronicity = (
        obs[k].to_numpy() for k in ("condition", "cell_type", "chronicity")
    )
    control = condition == "control"
    in_train = np.zeros(adata.n_obs, dtype=bool)
    in_train[splits[0].train] = True

    def context(t, c):
        return in_train & (cell_type == t) & (chronicity == c)

    def reference(split, perturbation):
        """The perturbation's mean effect in the other cell types of the same chronicity."""
        _, held_type, held_chronicity = split.name.split(" | ")
        effects = []
        for other in sorted(set(cell_type) - {held_type}):
            cells = context(other, held_chronicity)
            treated, controls = cells & (condition == perturbation), cells & control
            if treated.any() and controls.any():
                effects.append(run._group_mean(adata, treated) - run._group_mean(adata, controls))
        return np.mean(effects, axis=0) if effects else np.zeros(adata.n_vars)

    def training_conditions(split):
        seen = sorted(
            set(zip(condition[in_train], cell_type[in_train], chronicity[in_train], strict=True))
        )
        return [
            (
                p,
                np.flatnonzero(context(t, c) & control),
                np.flatnonzero(context(t, c) & (condition == p)),
            )
            for p, t, c in seen
            if p != "control" and (context(t, c) & control).any()
        ]

    return run.Task(
        "cinemaot",
        adata,
        splits,
        "cell_type",
        reference,
        training_conditions,
        covariate_keys=["chronicity", "donor"],
    )


def benchmark(
    task: run.Task,
    model_specs: list[str],
    seeds: list[int],
    accelerator: str = "cpu",
    fit: bool = True,
    fast: bool = False,
    on_model=None,
) -> pd.DataFrame:
    """Every model and seed, trained once, scored on every held-out condition."""
    n_components = min(50, task.adata.n_vars, task.adata.n_obs - 1)
    pca = PCA(n_components, random_state=0).fit(run._dense(task.adata.X))
    splits = task.splits
    train = task.adata[splits[0].train].copy()
    rows = []
    for spec in model_specs:
        spec = PAPER_MODEL if spec == "paper" else spec
        name, settings = run.parse_model(spec)
        for seed in seeds[:1] if name in run.DETERMINISTIC else seeds:
            start = time.perf_counter()
            predict, _ = run.fit_model(name, settings, train, task, seed, accelerator)
            train_s = time.perf_counter() - start
            fitted = run.fit_scores(task, splits[0], predict, pca)[0] if fit else {}
            for split in splits:
                query = task.adata[split.query].copy()
                perturbation = split.perturbations[0]
                pred = predict(query, perturbation)
                scores = run.score(task, split, perturbation, pred, pca, fast)
                rows.append(
                    {"task": task.name, "split": split.name, "perturbation": perturbation}
                    | {"model": spec, "seed": seed, "train_s": train_s, "n_train": len(split.train)}
                    | scores
                    | fitted
                )
                print(
                    f"{split.name} {spec} seed={seed}: MMD {scores['mmd']:.4f} "
                    f"ED {scores['energy_distance']:.3f} R2 {scores['r2_all']:.3f}",
                    flush=True,
                )
            if on_model is not None:
                on_model(pd.DataFrame(rows))
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over the held-out conditions, then mean and sd over the seeds, per model."""
    columns = [c for c in (*SCORES, "fit_pearson_delta_top50") if c in table.columns]
    per_seed = table.groupby(["model", "seed"])[columns].mean()
    grouped = per_seed.groupby("model")
    out = pd.DataFrame(index=grouped.size().index)
    for column in columns:
        mean, sd = grouped[column].mean(), grouped[column].std().fillna(0.0)
        out[column] = [f"{m:.4f} ± {s:.4f}" for m, s in zip(mean, sd, strict=True)]
    out["seeds"] = grouped.size()
    return out.sort_values("mmd" if "mmd" in columns else columns[0])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the CINEMA-OT .h5ad (or its folder)")
    parser.add_argument(
        "--models", nargs="+", default=["paper", "cfm_gaussian", "mean_shift", "control"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--min-genes", type=int, default=200)
    parser.add_argument("--n-top-genes", type=int, default=5000)
    parser.add_argument("--no-fit", action="store_true", help="skip the training conditions")
    parser.add_argument("--fast-metrics", action="store_true", help="skip OT and DE metrics")
    results = Path(__file__).parent / "results"
    parser.add_argument("--out", type=Path, default=results / "paper.csv")
    parser.add_argument("--summary", type=Path, default=results / "paper_summary.md")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    adata = preprocess(cfs.datasets.dong2023_cinemaot(args.path), args.min_genes, args.n_top_genes)
    task = cinemaot_task(adata)
    print(f"{adata.n_obs} cells x {adata.n_vars} genes, {len(task.splits)} held-out conditions")
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(table: pd.DataFrame) -> None:
        table.to_csv(args.out, index=False)

    table = benchmark(
        task, args.models, args.seeds, args.accelerator, not args.no_fit, args.fast_metrics, save
    )
    save(table)
    text = summary(table).to_markdown()
    args.summary.write_text(
        f"Held-out CINEMA-OT conditions (the paper's split), mean over the {len(task.splits)} "
        "conditions, "
        f"mean ± sd over seeds.\n\nCommand: `python benchmarks/paper.py {' '.join(argv or sys.argv[1:])}`\n\n"
        f"{text}\n"
    )
    print(text)


if __name__ == "__main__":
    main()
