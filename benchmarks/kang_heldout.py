"""Kang 2018 held-out cell type: predict a type's IFN-beta response from its control cells.

For each held-out cell type, the stimulated cells of that type are removed from training; the
model predicts them from that type's control cells. Scores (see ``score``): energy distance
(unsquared, Euclidean) in a 50-component PCA of all Kang cells, Pearson delta on the top-50
changed genes, and Pearson of the type's own deviation from the average response.

Usage::

    python benchmarks/kang_heldout.py --cell-types CD14+Mono B --seeds 0 --out results.csv \
        --model source=control --model source=gaussian
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import PCA

import calmflow_sc as cfs


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if sparse.issparse(x) else x, dtype=np.float64)


def score(
    pred: np.ndarray,
    real: np.ndarray,
    control: np.ndarray,
    pca: PCA,
    average_effect: np.ndarray,
    top_k: int = 50,
) -> dict[str, float]:
    """Scores of predicted vs observed stimulated cells of one held-out type."""
    delta_real = real.mean(0) - control.mean(0)
    delta_pred = pred.mean(0) - control.mean(0)
    top = np.argsort(-np.abs(delta_real))[:top_k]
    own_real = delta_real - average_effect
    own_pred = delta_pred - average_effect
    return {
        "energy_distance": cfs.metrics.energy_distance(pca.transform(pred), pca.transform(real)),
        "pearson_delta_top50": float(np.corrcoef(delta_pred[top], delta_real[top])[0, 1]),
        "pearson_own_deviation_top50": float(np.corrcoef(own_pred[top], own_real[top])[0, 1])
        if np.std(own_pred[top]) > 0
        else 0.0,
    }


def _parse_model(spec: str) -> dict:
    settings = {}
    for item in filter(None, spec.split(",")):
        key, value = item.split("=")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        if value in ("True", "False"):
            value = value == "True"
        settings[key] = value
    return settings


def run(cell_types, seeds, model_specs, max_epochs, data_path=None) -> pd.DataFrame:
    """Run every model on every held-out cell type and seed."""
    adata = cfs.datasets.kang2018(data_path)
    x_all = _dense(adata.X)
    pca = PCA(50, random_state=0).fit(x_all)
    rows = []
    is_stim = (adata.obs["condition"] == "stimulated").to_numpy()
    types = adata.obs["cell_type"].astype(str).to_numpy()
    for cell_type in cell_types:
        held_out = is_stim & (types == cell_type)
        train = adata[~held_out].copy()
        ctrl = adata[(~is_stim) & (types == cell_type)].copy()
        real = x_all[held_out]
        control = _dense(ctrl.X)
        others = [t for t in np.unique(types) if t != cell_type]
        average_effect = np.mean(
            [
                x_all[is_stim & (types == t)].mean(0) - x_all[~is_stim & (types == t)].mean(0)
                for t in others
            ],
            axis=0,
        )
        for name, predict in [
            ("control", lambda c: _dense(c.X)),
            (
                "mean_shift",
                lambda c, train=train: _mean_shift(train, c),
            ),
        ]:
            rows.append(
                {"cell_type": cell_type, "model": name, "seed": 0}
                | score(predict(ctrl), real, control, pca, average_effect)
            )
        for seed in seeds:
            for spec in model_specs:
                settings = _parse_model(spec)
                cfs.CaLMFlowPerturb.setup_anndata(
                    train,
                    perturbation_key="condition",
                    control_value="control",
                    cell_type_key="cell_type",
                )
                import scvi

                scvi.settings.seed = seed
                model = cfs.CaLMFlowPerturb(train, **settings)
                start = time.perf_counter()
                model.train(max_epochs=max_epochs, accelerator="cpu", enable_progress_bar=False)
                train_time = time.perf_counter() - start
                start = time.perf_counter()
                out = model.predict(ctrl, perturbation="stimulated", seed=seed, inplace=False)
                predict_time = time.perf_counter() - start
                start = time.perf_counter()
                model.predict(
                    ctrl, perturbation="stimulated", seed=seed, inplace=False, use_cache=False
                )
                predict_uncached_time = time.perf_counter() - start
                rows.append(
                    {"cell_type": cell_type, "model": f"calmflow[{spec}]", "seed": seed}
                    | score(out.X, real, control, pca, average_effect)
                    | {
                        "train_s": train_time,
                        "train_cells_per_s": model.history["train_loss"].shape[0]
                        * len(model.train_indices)
                        / train_time,
                        "predict_s": predict_time,
                        "predict_uncached_s": predict_uncached_time,
                        "n_predicted": ctrl.n_obs,
                    }
                )
                print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def _mean_shift(train, ctrl) -> np.ndarray:
    baseline = cfs.baselines.MeanShiftBaseline(
        train, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    ).train()
    return _dense(baseline.predict(ctrl, perturbation="stimulated", inplace=False).X)


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell-types", nargs="+", default=["CD14+Mono"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--model", action="append", default=None)
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="CSV of every run")
    parser.add_argument("--report", type=Path, default=None, help="markdown summary")
    parser.add_argument(
        "--append", action="store_true", help="add to the runs already in --out (other seeds)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite --report from --out without running"
    )
    args = parser.parse_args()
    if args.report_only:
        table = pd.read_csv(args.out)
    else:
        table = run(args.cell_types, args.seeds, args.model or [""], args.max_epochs)
    if args.append and args.out is not None and args.out.exists():
        table = pd.concat([pd.read_csv(args.out), table], ignore_index=True)
        table = table.drop_duplicates(subset=["cell_type", "model", "seed"], keep="last")
    numeric = table.drop(columns=["seed"])
    summary = numeric.groupby("model").mean(numeric_only=True)
    spread = numeric.groupby("model")[["energy_distance", "pearson_own_deviation_top50"]].std()
    summary["energy_distance_sd"] = spread["energy_distance"]
    summary["own_deviation_sd"] = spread["pearson_own_deviation_top50"]
    print(summary.to_string())
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    if args.report is not None:
        command = "python benchmarks/kang_heldout.py " + " ".join(sys.argv[1:])
        per_type = table.pivot_table(
            index="cell_type", columns="model", values="energy_distance", aggfunc="mean"
        )
        text = [
            "# Kang 2018: held-out cell type",
            "",
            f"Last command: `{command}` (2-core CPU). Runs accumulate in the CSV with",
            "`--append`; this table covers every run there (seeds 0-2).",
            "",
            "Mean over held-out cell types and seeds. Energy distance: unsquared, in a 50-PC PCA",
            "of all Kang cells (lower is better). Pearson delta: predicted vs observed mean change",
            "from control on the top-50 changed genes. Own deviation: Pearson of predicted vs",
            "observed (effect - average effect of the other cell types) on those genes.",
            "",
            summary.to_markdown(floatfmt=".3f"),
            "",
            "Energy distance per held-out cell type:",
            "",
            per_type.to_markdown(floatfmt=".3f"),
            "",
        ]
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text("\n".join(text))


if __name__ == "__main__":
    main()
