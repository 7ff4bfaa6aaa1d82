"""The main job on the embedded default data: train, predict a held-out combination, compare."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import anndata
import numpy as np
import pandas as pd

from . import baselines, datasets, metrics
from .model import CaLMFlowPerturb

DEMO_CELL_TYPE = "monocyte"
DEMO_PERTURBATION = "IFNB+TNF"


@dataclass
class DemoResult:
    """What the demo produced."""

    scores: pd.DataFrame
    output: Path
    train_seconds: float
    predict_seconds: float


def run_demo(
    output: str | Path = "calmflow_sc_demo/predictions.h5ad",
    max_epochs: int | None = None,
    seed: int = 0,
) -> DemoResult:
    """Train on the simulated data and predict a held-out (cell type, perturbation) pair.

    The monocytes treated with ``IFNB+TNF`` are removed from training; the model predicts them
    from monocyte control cells and is compared with two baselines: the control cells
    themselves, and the mean shift (the pair's average effect in the other cell types).

    Parameters
    ----------
    output
        Where to write an ``.h5ad`` with the observed held-out cells and every prediction
        (``obs["origin"]`` tells which).
    max_epochs
        Training epochs; ``None`` uses the model's default.
    seed
        Seed of training and sampling.

    Returns
    -------
    The scores (one row per method and metric), the output path and timings.
    """
    import scvi

    scvi.settings.seed = seed
    adata = datasets.simulated(seed=seed)
    held_out = (adata.obs["cell_type"] == DEMO_CELL_TYPE) & (
        adata.obs["condition"] == DEMO_PERTURBATION
    )
    train = adata[~held_out.to_numpy()].copy()
    real = adata[held_out.to_numpy()].copy()
    control = adata[
        (
            (adata.obs["cell_type"] == DEMO_CELL_TYPE) & (adata.obs["condition"] == "control")
        ).to_numpy()
    ].copy()

    CaLMFlowPerturb.setup_anndata(
        train,
        perturbation_key="condition",
        control_value="control",
        cell_type_key="cell_type",
        covariate_keys=["donor"],
    )
    model = CaLMFlowPerturb(train)
    start = time.perf_counter()
    model.train(max_epochs=max_epochs, accelerator="cpu")
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = model.predict(control, perturbation=DEMO_PERTURBATION, inplace=False, seed=seed)
    predict_seconds = time.perf_counter() - start

    shift = baselines.MeanShiftBaseline(
        train, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    ).train()
    predictions = {
        "calmflow": predicted,
        "mean_shift": shift.predict(control, perturbation=DEMO_PERTURBATION, inplace=False),
        "control": control,
    }
    rows = []
    for name, pred in predictions.items():
        table = metrics.evaluate(pred, real, control, top_k=(50,))
        rows.append(table.set_index("metric")["value"].rename(name))
    scores = pd.DataFrame(rows)

    pieces = {"observed": real}
    for name, pred in predictions.items():
        piece = anndata.AnnData(
            X=np.asarray(pred.X.toarray() if hasattr(pred.X, "toarray") else pred.X),
            obs=pred.obs[["condition", "cell_type", "donor"]].copy(),
            var=pd.DataFrame(index=real.var_names),
        )
        piece.obs["condition"] = DEMO_PERTURBATION
        pieces[name] = piece
    for piece in pieces.values():
        piece.X = np.asarray(piece.X.toarray() if hasattr(piece.X, "toarray") else piece.X)
        piece.obs = piece.obs[["condition", "cell_type", "donor"]].astype(str)
        piece.layers.clear()
        piece.obsm.clear()
        piece.uns.clear()
    combined = anndata.concat(pieces, label="origin", index_unique="-")
    combined.uns["demo_scores"] = scores.reset_index(names="method")
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    combined.write_h5ad(output)
    return DemoResult(scores, output, train_seconds, predict_seconds)
