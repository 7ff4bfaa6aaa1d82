"""Baseline predicting no perturbation effect."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._docs import doc
from ._base import Baseline


@doc.dedent
class ControlBaseline(Baseline):
    """Predict every perturbed cell to be its control cell, unchanged.

    The trivial lower bound of perturbation prediction: whatever the perturbation, the prediction
    for a control cell is that cell's own expression (in the configured ``layer``). The
    ``perturbation`` passed to :meth:`predict` is not checked against the training data.

    Parameters
    ----------
    adata
        Training data (only validated; nothing is learnt).
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s
        Unused by this baseline, accepted for a uniform interface.
    %(param_layer)s

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
