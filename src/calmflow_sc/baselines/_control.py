"""Baseline predicting no perturbation effect."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import Baseline


class ControlBaseline(Baseline):
    """Predict every perturbed cell to be its control cell, unchanged.

    The trivial lower bound of perturbation prediction: whatever the perturbation, the prediction
    for a control cell is that cell's own expression (in the configured ``layer``). The
    ``perturbation`` passed to :meth:`predict` is not checked against the training data.

    Parameters
    ----------
    adata
        Training data (only validated; nothing is learnt).
    perturbation_key
        Column of ``adata.obs`` naming the perturbation of every cell.
    control_value
        Value of ``adata.obs[perturbation_key]`` that marks control cells.
    cell_type_key
        Optional cell-type column (unused by this baseline, accepted for a uniform interface).
    layer
        Layer with the expression; ``X`` if ``None``.

    Examples
    --------
    >>> baseline = ControlBaseline(adata, "condition", "control").train()  # doctest: +SKIP
    >>> baseline.predict(adata_ctrl, "stim", key_added="pred")  # doctest: +SKIP
    """

    def _train(self) -> None:
        """Nothing to estimate."""

    def _predict_expression(
        self,
        expression: np.ndarray,
        contexts: pd.DataFrame,
        perturbation: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        return expression
