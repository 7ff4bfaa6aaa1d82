"""A new user's first afternoon on a CRISPR screen of raw counts, as a transcript.

Simulates a screen (raw counts, knock-outs named ``KO_*``, ``"non-targeting"`` controls, a
replicate column), then does what a new user does, mistakes included: registers the counts,
names the control value wrongly, passes one covariate key as a string, trains with a time
limit, predicts on cells whose genes come in another order, and evaluates against the observed
cells (also against a file of counts). Every message the package prints is kept.

Usage::

    python scripts/first_afternoon.py > benchmarks/results/first_afternoon.txt
"""

from __future__ import annotations

import contextlib
import time
import warnings

import numpy as np
import scanpy as sc
import scvi

import calmflow_sc as cfs


def screen_of_counts(seed: int = 0):
    """The simulated experiment as a screen of raw counts."""
    adata = cfs.datasets.simulated(n_cells_per_group=60, n_genes=200, seed=seed)
    rng = np.random.default_rng(seed)
    dense = adata.X.toarray() if hasattr(adata.X, "toarray") else np.asarray(adata.X)
    adata.X = rng.poisson(np.expm1(dense) * 3.0).astype(np.float32)
    labels = adata.obs["condition"].astype(str)
    names = {
        value: "+".join(f"KO_{part}" for part in value.split("+"))
        for value in labels.unique()
        if value != "control"
    }
    adata.obs["guide"] = labels.map(names).fillna("non-targeting").to_numpy()
    adata.obs["bio_rep"] = np.where(rng.random(adata.n_obs) < 0.5, "rep1", "rep2")
    return adata


@contextlib.contextmanager
def step(title: str):
    """Print a step's title, then its warnings and error (if any) as a user sees them."""
    print(f"\n>>> {title}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except (ValueError, KeyError) as err:
            print(f"{type(err).__name__}: {err}")
    for warning in caught:
        if warning.category is UserWarning:
            print(f"UserWarning: {warning.message}")


def main() -> None:
    """Run the afternoon and print what the package says."""
    scvi.settings.seed = 0
    adata = screen_of_counts()
    print(f"screen: {adata.n_obs} cells x {adata.n_vars} genes, X max {adata.X.max():.0f}")
    with step("setup on raw counts"):
        cfs.CaLMFlowPerturb.setup_anndata(adata, perturbation_key="guide")
    with step("the scanpy fix"):
        adata.layers["counts"] = adata.X.copy()
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
    with step("the default control value"):
        cfs.CaLMFlowPerturb.setup_anndata(adata, perturbation_key="guide")
    with step("setup with one covariate key as a string"):
        cfs.CaLMFlowPerturb.setup_anndata(
            adata,
            perturbation_key="guide",
            control_value="non-targeting",
            cell_type_key="cell_type",
            covariate_keys="bio_rep",
        )
        model = cfs.CaLMFlowPerturb(adata)
        print("covariate_keys:", model.get_setup_arg("covariate_keys"))
    with step("train (default budget, at most two minutes)"):
        start = time.perf_counter()
        model.train(max_time="00:00:02:00", enable_progress_bar=False)
        print(f"trained in {time.perf_counter() - start:.0f} s")
    knock_out = sorted(set(adata.obs["guide"]) - {"non-targeting"})[0]
    cell_type = adata.obs["cell_type"].iloc[0]
    in_type = (adata.obs["cell_type"] == cell_type).to_numpy()
    controls = adata[in_type & (adata.obs["guide"] == "non-targeting").to_numpy()].copy()
    observed = adata[in_type & (adata.obs["guide"] == knock_out).to_numpy()].copy()
    with step("predict on the controls with their genes in another order"):
        shuffled = controls[:, ::-1].copy()
        model.predict(shuffled, perturbation=knock_out)
        print("layers:", list(shuffled.layers))
    with step("predict a mistyped knock-out"):
        model.predict(controls, perturbation=knock_out.lower())
    with step("evaluate"):
        model.predict(controls, perturbation=knock_out)
        scores = cfs.metrics.evaluate(controls, observed, controls, top_k=(20,), de_k=(20,))
        print(scores.set_index("metric")["value"].round(3).to_string())
    with step("evaluate against the counts of the observed cells"):
        counts = observed.copy()
        counts.X = counts.layers["counts"]
        cfs.metrics.evaluate(controls, counts, controls, top_k=(20,), de_k=())


if __name__ == "__main__":
    main()
