"""The effect of a perturbation never measured by ridge regression from knowledge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge

from .._constants import ShrinkTarget
from ._knowledge_effects import KnowledgeEffectBaseline

if TYPE_CHECKING:
    from collections.abc import Hashable

    from anndata import AnnData


class KnowledgeRidgeBaseline(KnowledgeEffectBaseline):
    r"""Predict an unmeasured perturbation by ridge regression from knowledge to effect.

    GenePert-style: a ridge regression (:class:`sklearn.linear_model.Ridge`, with intercept)
    from the knowledge vectors of the seen single perturbations to their shifts predicts the
    shift of a single perturbation never measured, shrunk toward the perturbed mean (the mean
    shift of all seen single perturbations) by a factor :math:`\alpha \in [0, 1]`. The ridge
    penalty and :math:`\alpha` are chosen by exact leave-one-out over the seen single
    perturbations with knowledge (the mean squared error over genes minimised). Seen
    perturbations get their own shift and a combination adds its components' shifts,
    measured or predicted, as in :class:`KnowledgeKNNBaseline`, whose ``uns`` record and
    attributes this baseline shares (its ``neighbours`` are the five seen perturbations of
    highest similarity, with their weights in the regression's prediction).

    Parameters
    ----------
    adata, perturbation_key, control_value, cell_type_key, layer, covariate_keys
        As in :class:`MeanShiftBaseline`.
    descriptions, embeddings
        Knowledge, as in :class:`KnowledgeKNNBaseline`.
    ridge_alphas
        Ridge penalties to choose among, in units of the mean squared norm of the centred
        knowledge vectors of the seen perturbations (``None``: :math:`10^{-3}` to
        :math:`10^{3}`, two per decade).
    shrinkage, shrink_toward
        As in :class:`KnowledgeKNNBaseline`.
    combination_delimiter, clip
        As in :class:`MeanShiftBaseline`.

    Attributes
    ----------
    hyperparameters_
        After training: the chosen ``ridge_alpha`` (relative, as ``ridge_alphas``) and
        ``shrinkage``, their leave-one-out ``mse``, the ``mse_perturbed_mean`` and ``n_known``.
    loo_
        As in :class:`KnowledgeKNNBaseline`.
    support_
        As in :class:`KnowledgeKNNBaseline`.

    Examples
    --------
    >>> baseline = KnowledgeRidgeBaseline(adata, embeddings=gene_embeddings).train()  # doctest: +SKIP
    >>> baseline.predict(adata_ctrl, "NEVER_MEASURED", key_added="ridge")  # doctest: +SKIP
    """

    def __init__(
        self,
        adata: AnnData,
        perturbation_key: str | None = None,
        control_value: Hashable | None = None,
        cell_type_key: str | None = None,
        layer: str | None = None,
        covariate_keys: Sequence[str] | None = None,
        *,
        descriptions: Mapping[str, str] | None = None,
        embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
        ridge_alphas: Sequence[float] | None = None,
        shrinkage: float | None = None,
        shrink_toward: ShrinkTarget = "singles",
        combination_delimiter: str = "+",
        clip: bool = True,
    ) -> None:
        super().__init__(
            adata,
            perturbation_key,
            control_value,
            cell_type_key,
            layer,
            covariate_keys,
            descriptions=descriptions,
            embeddings=embeddings,
            shrinkage=shrinkage,
            shrink_toward=shrink_toward,
            combination_delimiter=combination_delimiter,
            clip=clip,
        )
        alphas = np.logspace(-3, 3, 13) if ridge_alphas is None else np.atleast_1d(ridge_alphas)
        self.ridge_alphas = [float(a) for a in alphas]
        if not self.ridge_alphas or min(self.ridge_alphas) <= 0:
            raise ValueError(f"ridge_alphas must be positive, got {ridge_alphas!r}.")

    def _grid(self, n_known: int) -> list[dict[str, float]]:
        return [{"ridge_alpha": a} for a in self.ridge_alphas]

    @staticmethod
    def _ridge(vectors: np.ndarray, params: dict[str, float]) -> Ridge:
        """Ridge from knowledge to the identity: its predictions are weights of the seen shifts."""
        centred = vectors - vectors.mean(axis=0)
        scale = max(float((centred**2).sum()) / len(vectors), 1e-12)
        ridge = Ridge(alpha=params["ridge_alpha"] * scale, fit_intercept=True)
        return ridge.fit(vectors, np.eye(len(vectors)))

    def _loo_weights(self, vectors: np.ndarray, params: dict[str, float]) -> np.ndarray:
        hat = self._ridge(vectors, params).predict(vectors)
        leverage = np.diag(hat).copy()
        np.fill_diagonal(hat, 0.0)  # the exact leave-one-out fit of a linear smoother
        return hat / np.maximum(1.0 - leverage, 1e-12)[:, None]

    def _query_weights(
        self, query: np.ndarray, vectors: np.ndarray, params: dict[str, float]
    ) -> np.ndarray:
        return self._ridge(vectors, params).predict(query[None])[0]
