"""Run models x tasks x seeds on the shared real data and write one CSV row per prediction.

Tasks
-----
``simulated``
    The package's simulated data (:func:`calmflow_sc.datasets.simulated`, small; no files):
    each cell type's perturbed cells held out in turn. For trying the runner out.
``kang``
    Kang 2018 PBMC, IFN-beta: each cell type's stimulated cells are held out in turn
    (:func:`calmflow_sc.data.heldout_cell_type_splits`) and predicted from its control cells.
``kang_counts``
    The other Kang 2018 subset (raw counts, log-normalised by its source, two donors as
    covariates, 5 cell types): each cell type's stimulated cells held out in turn.
``norman``
    Norman 2019 K562 CRISPRa: pairs whose singles are seen are held out
    (:func:`calmflow_sc.data.heldout_combination_splits`, in ``--n-folds`` folds) and each pair
    is predicted from the control cells.

Models
------
``calmflow`` (:class:`calmflow_sc.CaLMFlowPerturb`, with ``[key=value,...]`` overrides of its
arguments, e.g. ``calmflow[n_steps=16,causal_context=current]``, plus ``train_steps`` for the
optimisation budget, ``budget`` for a multiple of the default one or ``epochs`` for a number of
epochs, ``lr``, ``weight_decay``, ``batch_size``, ``early_stopping``, ``restore_best_weights``,
``precision``, ``validation`` and ``refit`` for :meth:`~calmflow_sc.CaLMFlowPerturb.train`,
``ema`` for Lightning's ``EMAWeightAveraging`` with that decay, ``tau`` for the inference temperature and ``descriptions=True`` for the
perturbation descriptions of ``benchmarks/descriptions.py``), ``cfm_control`` and
``cfm_gaussian`` (:class:`calmflow_sc.baselines.FlowMatchingBaseline`, overrides likewise),
``linear``, ``mean_shift``, ``perturbed_mean``, ``nearest`` (the seen perturbation with the
nearest MiniLM description), ``knowledge_knn`` and ``knowledge_ridge``
(:class:`calmflow_sc.baselines.KnowledgeKNNBaseline` and ``KnowledgeRidgeBaseline``). The last
three read the task's descriptions by default, or ``[embeddings=go]`` (the shipped GO
embeddings, :func:`calmflow_sc.knowledge.gene_embeddings`), ``[embeddings=go_descriptions]``
(the shipped GO descriptions through MiniLM) or ``[embeddings=path.csv]`` (a CSV of vectors
indexed by name); the knowledge baselines take overrides such as ``n_neighbors=1`` or ``shrinkage=0``) and ``control``. These are
deterministic and run for the first seed only.

Scores come from :func:`calmflow_sc.metrics.evaluate` in a fixed 50-component PCA of all the
task's cells (``obsm``), plus ``own_deviation_top50``: the Pearson correlation, on the top-50
changed genes, of predicted vs observed (effect - reference effect), where the reference is the
average effect of the other cell types (Kang) or the additive expectation of the pair's singles
(Norman); ``detection_rate_error``: the mean over genes of |predicted - observed fraction of
cells in which the gene is non-zero| (:func:`calmflow_sc.metrics.detection_rate_error`); and
``spread_ratio``: the predicted cells' standard deviation over the observed ones' (square root
of the ratio of their total variances in the PCA).

Every trained model is also scored on the conditions it was trained on (the *fit*): each
training perturbation is predicted from the training control cells of its context and compared
with the training cells of that condition. ``fit_pearson_delta_top50`` is the mean over the
training conditions of the Pearson delta on their top-50 genes, ``fit_pearson_delta_top50_min``
the weakest condition's, ``fit_energy_distance`` the mean energy distance and
``fit_oracle_ratio`` the mean of each condition's energy distance over the oracle's (the
condition's training controls moved by its own observed mean effect); the values of
every condition go to ``{out}_fit.csv`` beside the CSV of the scores.

Every Pearson correlation is :func:`calmflow_sc.metrics.pearson_r`, undefined (NaN) for a
constant input: the control baseline's predicted change is zero, so its fit Pearson delta is
NaN, as is ``own_deviation_top50`` where the prediction equals the reference effect.

Usage (every model, both tasks, three seeds, then the report in docs/benchmarks.md)::

    python benchmarks/run.py kang norman --seeds 0 1 2 --report \
        --models calmflow cfm_control cfm_gaussian linear mean_shift control
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse
from sklearn.decomposition import PCA

import calmflow_sc as cfs

sys.path.insert(0, str(Path(__file__).parent))
from descriptions import DESCRIPTIONS

EMBEDDING = "X_benchmark_pca"
DETERMINISTIC = (
    "linear",
    "mean_shift",
    "perturbed_mean",
    "nearest",
    "knowledge_knn",
    "knowledge_ridge",
    "control",
)
# calmflow settings that go to model.train() instead of the constructor
TRAIN_SETTINGS = (
    "lr",
    "weight_decay",
    "batch_size",
    "early_stopping",
    "restore_best_weights",
    "precision",
    "validation",
    "refit",
)


@dataclass
class Task:
    """A dataset with its splits and how to describe its cells."""

    name: str
    adata: AnnData
    splits: list
    cell_type_key: str | None
    reference: callable  # (split, perturbation) -> reference effect vector
    # split -> [(perturbation, query cells, observed cells)] of the training conditions
    training_conditions: callable
    covariate_keys: list[str] | None = None


def _dense(x) -> np.ndarray:
    return np.asarray(x.toarray() if sparse.issparse(x) else x, dtype=np.float64)


def _group_mean(adata: AnnData, mask: np.ndarray) -> np.ndarray:
    return _dense(adata.X[mask]).mean(0)


def cell_type_task(
    name: str,
    adata: AnnData,
    cell_types: list[str] | None,
    covariate_keys: list[str] | None = None,
) -> Task:
    """Every (or the given) cell type's perturbed cells held out in turn."""
    splits = cfs.data.heldout_cell_type_splits(adata, "condition", "control", "cell_type")
    if cell_types:
        splits = [split for split in splits if split.name in cell_types]
    types = adata.obs["cell_type"].astype(str).to_numpy()
    conditions = adata.obs["condition"].astype(str).to_numpy()
    control = conditions == "control"

    def effect(perturbation, cell_type, cells=None):
        chosen = types == cell_type if cells is None else cells & (types == cell_type)
        treated = _group_mean(adata, chosen & (conditions == perturbation))
        return treated - _group_mean(adata, chosen & control)

    def reference(split, perturbation):
        """The average effect of the perturbation in the other cell types."""
        others = np.unique(types[(conditions == perturbation) & (types != split.name)])
        return np.mean([effect(perturbation, t) for t in others], axis=0)

    def training_conditions(split):
        in_train = np.zeros(adata.n_obs, dtype=bool)
        in_train[split.train] = True
        seen = sorted({(p, t) for p, t in zip(conditions[in_train], types[in_train], strict=True)})
        return [
            (
                p,
                np.flatnonzero(in_train & control & (types == t)),
                np.flatnonzero(in_train & (conditions == p) & (types == t)),
            )
            for p, t in seen
            if p != "control"
        ]

    return Task(name, adata, splits, "cell_type", reference, training_conditions, covariate_keys)


def kang_task(cell_types: list[str] | None) -> Task:
    """Kang 2018, every (or the given) cell type held out in turn."""
    return cell_type_task("kang", cfs.datasets.kang2018(), cell_types)


def kang_counts_task(cell_types: list[str] | None) -> Task:
    """The counts-based Kang subset, log-normalised, donors as covariates, types held out."""
    raw = cfs.datasets.kang2018_counts()
    obs = pd.DataFrame(
        {
            "condition": raw.obs["group_id"].map({"ctrl": "control", "stim": "stimulated"}),
            "cell_type": raw.obs["cluster_id"].astype(str),
            "donor": raw.obs["sample_id"].astype(str).str[-3:],
        },
        index=raw.obs_names,
    ).astype("category")
    adata = AnnData(raw.layers["logcounts"], obs=obs, var=raw.var[[]])
    return cell_type_task("kang_counts", adata, cell_types, covariate_keys=["donor"])


def simulated_task(cell_types: list[str] | None) -> Task:
    """The package's simulated data (no files), every (or the given) cell type held out."""
    adata = cfs.datasets.simulated(n_cells_per_group=40, n_genes=200)
    return cell_type_task("simulated", adata, cell_types)


def _norman_k562() -> AnnData:
    """The K562 cells of the shared Norman 2019 file, conditions as plain categories."""
    full = cfs.datasets.norman2019_devel()
    adata = full[(full.obs["cell_type"] == "k562").to_numpy()].copy()
    adata.obs["condition"] = adata.obs["condition"].astype(str).astype("category")
    return adata


def _training_perturbations(conditions: np.ndarray) -> Callable:
    """Without cell types: every perturbation of a split's training cells, from its query."""

    def training_conditions(split):
        seen = sorted(set(conditions[split.train]) - {"control"})
        return [(p, split.query, split.train[conditions[split.train] == p]) for p in seen]

    return training_conditions


def norman_task(n_folds: int, fold_seed: int = 0) -> Task:
    """Norman 2019 K562 pairs with seen singles, held out in folds."""
    adata = _norman_k562()
    splits = cfs.data.heldout_combination_splits(
        adata, "condition", "control", n_folds=n_folds, seed=fold_seed
    )
    conditions = adata.obs["condition"].astype(str).to_numpy()
    control_mean = _group_mean(adata, conditions == "control")

    def reference(split, perturbation):
        singles = cfs.data.perturbation_components(perturbation, "control")
        return np.sum([_group_mean(adata, conditions == s) - control_mean for s in singles], 0)

    return Task("norman", adata, splits, None, reference, _training_perturbations(conditions))


def norman_unseen_task(components: list[str] | None = None) -> Task:
    """Norman 2019 K562: each single gene held out completely, with every pair holding it."""
    adata = _norman_k562()
    splits = cfs.data.heldout_component_splits(
        adata, "condition", "control", components=components, include_combinations=True
    )
    conditions = adata.obs["condition"].astype(str).to_numpy()
    control_mean = _group_mean(adata, conditions == "control")
    singles = sorted({c for c in conditions if not cfs.data.is_combination(c) and c != "control"})

    def reference(split, perturbation):
        if cfs.data.is_combination(perturbation):  # a pair with the unseen gene: additive
            parts = cfs.data.perturbation_components(perturbation, "control")
            return np.sum([_group_mean(adata, conditions == s) - control_mean for s in parts], 0)
        # the mean effect of the other singles: what the perturbed-mean baseline predicts
        others = [s for s in singles if s != perturbation]
        return np.mean([_group_mean(adata, conditions == s) - control_mean for s in others], 0)

    return Task(
        "norman_unseen", adata, splits, None, reference, _training_perturbations(conditions)
    )


def parse_model(spec: str) -> tuple[str, dict]:
    """``name[key=value,...]`` -> ``(name, settings)`` with numbers and booleans cast."""
    match = re.fullmatch(r"([a-z_]+)(?:\[(.*)\])?", spec)
    if match is None:
        raise ValueError(f"Cannot parse model {spec!r}; expected name[key=value,...].")
    settings = {}
    for item in filter(None, (match.group(2) or "").split(",")):
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
    return match.group(1), settings


def fit_model(
    name: str, settings: dict, train: AnnData, task: Task, seed: int, accelerator: str = "cpu"
):
    """Build and train a model; return a function ``(query, perturbation, **kw) -> AnnData``."""
    import scvi

    keys = {"cell_type_key": task.cell_type_key, "covariate_keys": task.covariate_keys}
    settings = dict(settings)
    temperature = settings.pop("tau", None)
    train_steps = settings.pop("train_steps", None)
    budget = settings.pop("budget", None)
    epochs = settings.pop("epochs", None)
    train_kwargs = {k: settings.pop(k) for k in TRAIN_SETTINGS if k in settings}
    if "ema" in settings:  # Lightning's exponential moving average of the weights
        from lightning.pytorch.callbacks import EMAWeightAveraging

        train_kwargs["callbacks"] = [EMAWeightAveraging(decay=float(settings.pop("ema")))]
    if settings.pop("descriptions", False):
        settings["perturbation_descriptions"] = DESCRIPTIONS[task.name.split("_")[0]]
    descriptions = DESCRIPTIONS.get(task.name.split("_")[0])
    source = settings.get("embeddings")
    if source == "go":  # the shipped GO embeddings (calmflow_sc.knowledge)
        settings["embeddings"] = cfs.knowledge.gene_embeddings()
    elif source == "go_descriptions":  # the shipped GO descriptions, through MiniLM
        descriptions = cfs.knowledge.gene_descriptions()
        del settings["embeddings"]
    elif isinstance(source, str):  # a CSV of vectors indexed by name
        settings["embeddings"] = pd.read_csv(source, index_col=0)
    if name == "calmflow":
        if "embeddings" in settings:  # the knowledge of the task's components only
            named = {
                part
                for label in task.adata.obs["condition"].astype(str).unique()
                for part in cfs.data.perturbation_components(label, "control")
            }
            vectors = settings.pop("embeddings")
            settings["perturbation_embeddings"] = vectors.loc[vectors.index.isin(named)]
        scvi.settings.seed = seed
        cfs.CaLMFlowPerturb.setup_anndata(train, "condition", "control", **keys)
        model = cfs.CaLMFlowPerturb(train, **settings)
        max_epochs = None
        n_train = int(np.ceil(0.9 * (train.obs["condition"] != "control").sum()))
        if train_steps is not None:
            max_epochs = max(1, round(train_steps / np.ceil(n_train / 128)))
        if budget is not None:  # a multiple of the default number of epochs
            max_epochs = max(1, round(budget * cfs.train.default_max_epochs(n_train)))
        if epochs is not None:
            max_epochs = int(epochs)
        model.train(
            max_epochs=max_epochs,
            accelerator=accelerator,
            enable_progress_bar=False,
            enable_model_summary=False,
            **train_kwargs,
        )

        def predict(query, perturbation, tau=temperature, decoding=None, keep_zeros=None):
            return model.predict(
                query,
                perturbation,
                seed=seed,
                inplace=False,
                temperature=tau,
                decoding=decoding,
                keep_zeros=True if keep_zeros is None else keep_zeros,
            )

        return predict, model
    knowledge = {} if "embeddings" in settings else {"descriptions": descriptions}
    classes = {
        "cfm_control": (cfs.baselines.FlowMatchingBaseline, {"source": "control", "seed": seed}),
        "cfm_gaussian": (cfs.baselines.FlowMatchingBaseline, {"source": "gaussian", "seed": seed}),
        "linear": (cfs.baselines.LinearBaseline, {}),
        "mean_shift": (cfs.baselines.MeanShiftBaseline, {}),
        "perturbed_mean": (cfs.baselines.PerturbedMeanBaseline, {}),
        "nearest": (cfs.baselines.NearestPerturbationBaseline, knowledge),
        "knowledge_knn": (cfs.baselines.KnowledgeKNNBaseline, knowledge),
        "knowledge_ridge": (cfs.baselines.KnowledgeRidgeBaseline, knowledge),
        "control": (cfs.baselines.ControlBaseline, {}),
    }
    if name not in classes:
        raise ValueError(f"Unknown model {name!r}; choose calmflow or one of {sorted(classes)}.")
    cls, defaults = classes[name]
    cls.setup_anndata(train, "condition", "control", **keys)
    baseline = cls(train, **(defaults | settings)).train()

    def predict(query, perturbation, tau=None, decoding=None, keep_zeros=None):
        return baseline.predict(query, perturbation, inplace=False, seed=seed)

    return predict, baseline


def score(
    task: Task, split, perturbation: str, pred: AnnData, pca: PCA, fast: bool = False
) -> dict[str, float]:
    """Metrics of one predicted perturbation."""
    adata = task.adata
    conditions = adata.obs["condition"].astype(str).to_numpy()
    test = split.test[conditions[split.test] == perturbation]
    real = adata[test].copy()
    control = adata[split.query].copy()
    pred = pred.copy()
    for item in (pred, real, control):
        item.obsm[EMBEDDING] = pca.transform(_dense(item.X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = cfs.metrics.evaluate(
            pred,
            real,
            control,
            obsm=EMBEDDING,
            top_k=(20, 50),
            transport=not fast,
            de_k=() if fast else (20, 50),
        )
    scores = dict(zip(table["metric"], table["value"], strict=True))
    control_mean = _dense(control.X).mean(0)
    delta_real = _dense(real.X).mean(0) - control_mean
    delta_pred = _dense(pred.X).mean(0) - control_mean
    top = cfs.metrics.top_changed_genes(real.X, control.X, 50)
    reference = task.reference(split, perturbation)
    own_pred, own_real = (delta_pred - reference)[top], (delta_real - reference)[top]
    scores["own_deviation_top50"] = cfs.metrics.pearson_r(own_pred, own_real)
    scores["detection_rate_error"] = cfs.metrics.detection_rate_error(pred.X, real.X)
    spread = pred.obsm[EMBEDDING].var(0).sum() / real.obsm[EMBEDDING].var(0).sum()
    scores["spread_ratio"] = float(np.sqrt(spread))  # predicted / observed standard deviation
    return scores


def fit_scores(
    task: Task, split, predict, pca: PCA, **predict_kwargs
) -> tuple[dict[str, float], list[dict]]:
    """Fit of the training conditions: Pearson delta top-50 and energy distance of each.

    Returns the summary (mean and weakest Pearson delta, mean energy distance) and one record
    per training condition.
    """
    adata = task.adata
    records = []
    for perturbation, query_cells, real_cells in task.training_conditions(split):
        query = adata[query_cells].copy()
        pred = predict(query, perturbation, **predict_kwargs)
        control, real = _dense(query.X), _dense(adata.X[real_cells])
        top = cfs.metrics.top_changed_genes(real, control, 50)
        delta_real = (real.mean(0) - control.mean(0))[top]
        delta_pred = (_dense(pred.X).mean(0) - control.mean(0))[top]
        context = "all"
        if task.cell_type_key is not None:
            context = str(adata.obs[task.cell_type_key].iloc[real_cells[0]])
        embedded_real = pca.transform(real)
        # the oracle: the controls moved by the condition's own observed mean effect
        oracle = control + (real.mean(0) - control.mean(0))
        distance = cfs.metrics.energy_distance(pca.transform(_dense(pred.X)), embedded_real)
        oracle_distance = cfs.metrics.energy_distance(pca.transform(oracle), embedded_real)
        records.append(
            {
                "perturbation": perturbation,
                "context": context,
                "pearson_delta_top50": cfs.metrics.pearson_r(delta_pred, delta_real),
                "energy_distance": distance,
                "oracle_energy_distance": oracle_distance,
                "oracle_ratio": distance / oracle_distance,
            }
        )
    correlations = [r["pearson_delta_top50"] for r in records]
    summary = {
        "fit_pearson_delta_top50": float(np.mean(correlations)),
        "fit_pearson_delta_top50_min": float(np.min(correlations)),
        "fit_energy_distance": float(np.mean([r["energy_distance"] for r in records])),
        "fit_oracle_ratio": float(np.mean([r["oracle_ratio"] for r in records])),
    }
    return summary, records


def run(
    task: Task,
    model_specs: list[str],
    seeds: list[int],
    temperatures: list,
    fast: bool = False,
    on_split: Callable[[pd.DataFrame], None] | None = None,
    decodings: list | None = None,
    fit: bool = True,
    on_fit: Callable[[pd.DataFrame], None] | None = None,
    keep_zeros: list | None = None,
    accelerator: str = "cpu",
) -> pd.DataFrame:
    """Every model on every split and seed; one row per (split, perturbation, model, seed).

    ``on_split`` receives the rows so far after each split, e.g. to save them, so that an
    interrupted run keeps its finished splits. CaLMFlowPerturb predicts with every temperature
    and decoding given (``None``: its default), with and without ``keep_zeros`` as given;
    ``fit`` adds the fit of the training conditions,
    whose per-condition values ``on_fit`` receives after each split.
    """
    pca = PCA(50, random_state=0).fit(_dense(task.adata.X))
    rows, fit_rows = [], []
    for split in task.splits:
        train = task.adata[split.train].copy()
        query = task.adata[split.query].copy()
        for spec in model_specs:
            name, settings = parse_model(spec)
            for seed in seeds[:1] if name in DETERMINISTIC else seeds:
                start = time.perf_counter()
                predict, _ = fit_model(name, settings, train, task, seed, accelerator)
                train_s = time.perf_counter() - start
                variants = [{}]
                if name == "calmflow":
                    variants = [
                        {
                            k: v
                            for k, v in (("tau", tau), ("decoding", dec), ("keep_zeros", zeros))
                            if v is not None
                        }
                        for tau in temperatures
                        for dec in decodings or [None]
                        for zeros in keep_zeros or [None]
                    ]
                for variant in variants:
                    label = spec + "".join(f"@{k}={v}" for k, v in variant.items())
                    fitted = {}
                    if fit:
                        fitted, records = fit_scores(task, split, predict, pca, **variant)
                        keys = {"task": task.name, "split": split.name, "model": label}
                        fit_rows += [keys | {"seed": seed} | r for r in records]
                    for perturbation in split.perturbations:
                        start = time.perf_counter()
                        pred = predict(query, perturbation, **variant)
                        predict_s = time.perf_counter() - start
                        row = (
                            {
                                "task": task.name,
                                "split": split.name,
                                "perturbation": perturbation,
                                "model": label,
                                "seed": seed,
                                "train_s": train_s,
                                "predict_s": predict_s,
                                "n_train": len(split.train),
                                "n_predicted": query.n_obs,
                            }
                            | score(task, split, perturbation, pred, pca, fast)
                            | fitted
                        )
                        rows.append(row)
                        print(
                            f"{task.name} {split.name} {perturbation} {label} seed={seed}: "
                            f"ED {row['energy_distance']:.3f} MMD {row['mmd']:.4f} "
                            f"PD50 {row['pearson_delta_top50']:.3f} "
                            f"own {row['own_deviation_top50']:.3f} "
                            + (
                                f"fit PD50 {row['fit_pearson_delta_top50']:.3f} "
                                f"(min {row['fit_pearson_delta_top50_min']:.3f}) "
                                f"fit ED {row['fit_energy_distance']:.3f} "
                                if fit
                                else ""
                            )
                            + f"({train_s:.0f} s)",
                            flush=True,
                        )
        if on_split is not None:
            on_split(pd.DataFrame(rows))
        if on_fit is not None and fit_rows:
            on_fit(pd.DataFrame(fit_rows))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "tasks",
        nargs="+",
        choices=["kang", "kang_counts", "norman", "norman_unseen", "simulated"],
    )
    parser.add_argument(
        "--models", nargs="+", default=["calmflow", "linear", "mean_shift", "control"]
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--cell-types",
        nargs="+",
        default=None,
        help="cell-type tasks: types to hold out (norman_unseen: the genes)",
    )
    parser.add_argument("--n-folds", type=int, default=3, help="norman: folds of pairs")
    parser.add_argument(
        "--splits", nargs="+", default=None, help="run only these splits (e.g. fold1 fold2)"
    )
    parser.add_argument(
        "--temperatures", nargs="+", type=float, default=None, help="calmflow: taus to predict with"
    )
    parser.add_argument(
        "--decodings",
        nargs="+",
        default=None,
        choices=["residual", "pca"],
        help="calmflow: decodings to predict with",
    )
    parser.add_argument(
        "--keep-zeros",
        nargs="+",
        default=None,
        choices=["True", "False"],
        help="calmflow: predict with these keep_zeros settings (labels @keep_zeros=...)",
    )
    parser.add_argument(
        "--fast-metrics", action="store_true", help="skip the OT and DE metrics (ablations)"
    )
    parser.add_argument(
        "--no-fit", action="store_true", help="skip the fit of the training conditions"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="CSV (one task); rows are added to it"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).parent / "results",
        help="folder of the per-task CSVs {task}.csv when --out is not given",
    )
    parser.add_argument(
        "--report", action="store_true", help="rewrite docs/benchmarks.md afterwards"
    )
    parser.add_argument(
        "--accelerator", default="cpu", help="calmflow: where to train (cpu, gpu; Lightning)"
    )
    args = parser.parse_args(argv)
    if args.out is not None and len(args.tasks) > 1:
        parser.error("--out takes one task; use --out-dir for several.")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    logging.getLogger("lightning.fabric").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    for name in args.tasks:
        tasks = {
            "kang": lambda: kang_task(args.cell_types),
            "kang_counts": lambda: kang_counts_task(args.cell_types),
            "norman": lambda: norman_task(args.n_folds),
            "norman_unseen": lambda: norman_unseen_task(args.cell_types),
            "simulated": lambda: simulated_task(args.cell_types),
        }
        task = tasks[name]()
        if args.splits is not None:
            unknown = sorted(set(args.splits) - {split.name for split in task.splits})
            if unknown:
                parser.error(f"{name} has no split(s) {unknown}.")
            task.splits = [split for split in task.splits if split.name in args.splits]
        out = args.out or args.out_dir / f"{name}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        earlier = pd.read_csv(out) if out.exists() else None

        fit_out = out.with_name(f"{out.stem}_fit.csv")
        fit_earlier = pd.read_csv(fit_out) if fit_out.exists() else None

        def merge(table, out, earlier, keys):
            """Merge new rows into a CSV's earlier ones (a repeated run replaces them)."""
            if earlier is not None:
                table = pd.concat([earlier, table], ignore_index=True)
                table = table.drop_duplicates(subset=keys, keep="last")
            table.to_csv(out, index=False)

        def save(table: pd.DataFrame, out: Path = out, earlier=earlier) -> None:
            merge(table, out, earlier, ["task", "split", "perturbation", "model", "seed"])

        def save_fit(table: pd.DataFrame, out: Path = fit_out, earlier=fit_earlier) -> None:
            keys = ["task", "split", "perturbation", "context", "model", "seed"]
            merge(table, out, earlier, keys)

        run(
            task,
            args.models,
            args.seeds,
            args.temperatures or [None],
            args.fast_metrics,
            save,
            decodings=args.decodings,
            keep_zeros=[v == "True" for v in args.keep_zeros] if args.keep_zeros else None,
            fit=not args.no_fit,
            on_fit=save_fit,
            accelerator=args.accelerator,
        )
    if args.report:
        import report

        report.main([])


if __name__ == "__main__":
    main()
