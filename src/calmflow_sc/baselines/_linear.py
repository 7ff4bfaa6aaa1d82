"""Baseline: a linear model of mean expression on condition features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from .._anndata import get_expression
from ..data import ConditionEncoder
from ._base import Baseline
from ._expression import group_means

if TYPE_CHECKING:
    from anndata import AnnData


class LinearBaseline(Baseline):
    r"""Predict the mean change from a linear model on condition features.

    Every training group (cell type, covariates, perturbation) is summarised by its mean
    expression :math:`\bar x_g`, and a ridge regression fits
    :math:`\bar x_g \approx b + W^\top f_g`, where :math:`f_g` holds a one-hot code of the
    cell type and each covariate and a multi-hot code of the perturbation's components (a pair
    is the sum of its singles). Each group counts once, whatever its size. The prediction for
    a control cell :math:`x` under perturbation :math:`p` adds the model's change from control,
    :math:`W^\top (f_{c,p} - f_{c,\mathrm{control}})`, which is the sum of the components'
    coefficients: additive across perturbations and the same in every cell type. Predictions
    are clipped at 0.

    Parameters
    ----------
    adata
        Training data (never modified).
    perturbation_key, control_value, cell_type_key, layer, covariate_keys
        As in :class:`Baseline`.
    alpha
        Ridge penalty on the coefficients.
    combination_delimiter
        Separator of the components of a combination.

    Attributes
    ----------
    coefficients_
        After training: ``{component: change}`` with float64 vectors of length ``n_genes``.

    Examples
    --------
    >>> LinearBaseline.setup_anndata(adata, "condition", "control", cell_type_key="cell_type")  # doctest: +SKIP
    >>> baseline = LinearBaseline(adata).train()  # doctest: +SKIP
    >>> baseline.predict(adata_ctrl, "stim", key_added="linear")  # doctest: +SKIP
    """

    def __init__(
        self,
        adata: AnnData,
        *args: Any,
        alpha: float = 0.1,
        combination_delimiter: str = "+",
        **kwargs: Any,
    ) -> None:
        super().__init__(adata, *args, **kwargs)
        if alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {alpha}.")
        self.alpha = float(alpha)
        self.combination_delimiter = combination_delimiter
        self.coefficients_: dict[str, np.ndarray] = {}

    def _train(self) -> None:
        contexts = self._contexts(self.adata.obs, "adata")
        perturbations = self.adata.obs[self.perturbation_key].astype(str).to_numpy()
        self.encoder_ = ConditionEncoder.fit(
            contexts, perturbations, self.control_value, self.combination_delimiter
        )
        groups = pd.MultiIndex.from_arrays(
            [*(contexts[key].to_numpy() for key in contexts.columns), perturbations]
        )
        codes, unique = pd.factorize(groups)
        means = group_means(get_expression(self.adata, self.layer), codes, len(unique))
        first = np.unique(codes, return_index=True)[1]
        features = self.encoder_.encode(contexts.iloc[first], perturbations[first])
        regression = Ridge(alpha=self.alpha).fit(features, means)
        offset = len(features[0]) - len(self.encoder_.perturbation_components)
        self.coefficients_ = {
            name: regression.coef_[:, offset + i].astype(np.float64)
            for i, name in enumerate(self.encoder_.perturbation_components)
        }

    def shift(self, perturbation: str) -> np.ndarray:
        """Change of mean expression the model predicts for ``perturbation``."""
        self._check_trained()
        code = self.encoder_.encode_perturbation(str(perturbation))
        total = np.zeros(len(self.var_names))
        for name, weight in zip(self.encoder_.perturbation_components, code, strict=True):
            if weight:
                total += weight * self.coefficients_[name]
        return total

    def _predict_expression(
        self,
        expression: np.ndarray,
        contexts: pd.DataFrame,
        perturbation: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        expression += self.shift(perturbation)
        return np.maximum(expression, 0.0, out=expression)
