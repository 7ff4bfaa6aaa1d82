"""Effects of perturbations never measured, from knowledge, shrunk by leave-one-out."""

from __future__ import annotations

import copy
import warnings
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._constants import SHRINK_TARGETS, ShrinkTarget, check_choice
from ..data import is_combination, perturbation_components
from ._knowledge import KnowledgeVectors, unknown_message
from ._mean_shift import MeanShiftBaseline, _preview

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from anndata import AnnData

#: Fewest seen single perturbations with knowledge that the leave-one-out choice needs.
MIN_KNOWN = 3


class KnowledgeEffectBaseline(MeanShiftBaseline):
    r"""Base of the baselines that predict unmeasured effects from knowledge of perturbations.

    Seen perturbations get their own shift (as :class:`MeanShiftBaseline`). A single
    perturbation never measured gets :math:`(1 - \alpha)\,\hat\delta + \alpha\,\bar\delta`:
    :math:`\hat\delta` is a subclass's estimate from the knowledge vectors and the shifts of the
    seen single perturbations, :math:`\bar\delta` the perturbed mean (the mean shift of all seen
    single perturbations) and :math:`\alpha \in [0, 1]` the shrinkage. Training chooses the
    subclass's settings and :math:`\alpha` by leave-one-out over the seen single perturbations
    with knowledge: each one's shift is predicted from the others, and the choice minimises the
    mean squared error in gene space (computed exactly from the Gram matrix of the shifts). A
    combination adds its components' shifts, measured or predicted (the additive expectation).
    Every estimate is a weighted sum of the seen shifts, so the same weights serve every cell
    type.
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
            combination_delimiter=combination_delimiter,
            clip=clip,
        )
        if shrinkage is not None and not 0.0 <= float(shrinkage) <= 1.0:
            raise ValueError(f"shrinkage must lie in [0, 1] or be None, got {shrinkage!r}.")
        self.knowledge = KnowledgeVectors(descriptions, embeddings, type(self).__name__)
        self.shrinkage = None if shrinkage is None else float(shrinkage)
        self.shrink_toward = check_choice("shrink_toward", shrink_toward, SHRINK_TARGETS)
        self.hyperparameters_: dict[str, float] = {}
        self.loo_: pd.DataFrame | None = None
        self.support_: dict[str, dict[str, Any]] = {}
        self._singles: list[str] = []
        self._pool: list[str] = []
        self._known: list[str] = []
        self._vectors = np.zeros((0, 0))
        self._components: dict[str, dict[str, Any]] = {}

    @abstractmethod
    def _grid(self, n_known: int) -> list[dict[str, float]]:
        """The settings the leave-one-out chooses among."""

    @abstractmethod
    def _loo_weights(self, vectors: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """``(n, n)`` weights of the others' shifts predicting each row's, zero diagonal."""

    @abstractmethod
    def _query_weights(
        self, query: np.ndarray, vectors: np.ndarray, params: dict[str, float]
    ) -> np.ndarray:
        """``(n,)`` weights of the seen shifts predicting the shift of ``query``."""

    @property
    def _n_shown(self) -> int:
        """How many nearest seen perturbations a record lists."""
        return 5

    def _train(self) -> None:
        super()._train()
        self.support_, self._components = {}, {}
        self.hyperparameters_, self.loo_ = {}, None
        self._singles = [
            p
            for p in self.perturbations
            if not is_combination(p, self.combination_delimiter) and p != self.control_value
        ]
        self._pool = self._singles if self.shrink_toward == "singles" else self.perturbations
        self._pool = [p for p in self._pool if p != self.control_value]
        vectors = self.knowledge.vectors(self._singles)
        self._known = [p for p in self._singles if p in vectors]
        missing = [p for p in self._singles if p not in vectors]
        if missing:
            warnings.warn(
                f"{len(missing)} perturbation(s) seen in training have no knowledge; they count "
                f"in the perturbed mean only: {_preview(missing)}.",
                UserWarning,
                stacklevel=3,
            )
        if len({vectors[p].size for p in self._known}) > 1:
            raise ValueError(
                "Knowledge vectors of different lengths cannot be compared; give every "
                "perturbation an embedding of one length, or descriptions only."
            )
        if len(self._known) >= MIN_KNOWN:
            self._vectors = np.stack([vectors[p] for p in self._known])
            self._select()

    def _effects(self, cell_type: str) -> np.ndarray:
        """Shifts of the perturbations of the perturbed mean in ``cell_type``."""
        return np.stack([MeanShiftBaseline._single_shift(self, p, cell_type) for p in self._pool])

    def _components_of(self, perturbation: str) -> list[str]:
        return perturbation_components(perturbation, self.control_value, self.combination_delimiter)

    def _select(self) -> None:
        """Choose the settings and the shrinkage by leave-one-out over the known singles."""
        n_all, n_known = len(self._pool), len(self._known)
        columns = np.array([self._pool.index(p) for p in self._known])
        target = np.zeros((n_known, n_all))
        target[np.arange(n_known), columns] = 1.0
        # the perturbed mean of the others: without the held-out one and what contains it
        parts = [set(self._components_of(q)) for q in self._pool]
        others = np.array([[p not in q for q in parts] for p in self._known])
        mean = others / others.sum(axis=1, keepdims=True)
        residual = target - mean
        grams, n_rows = [], 0
        for cell_type in sorted({ct for p in self._pool for ct in self.shifts_[p]}):
            effects = self._effects(cell_type)
            rows = np.array([cell_type in self.shifts_[p] for p in self._known])
            grams.append((rows, effects @ effects.T))
            n_rows += int(rows.sum())
        scale = n_rows * len(self.var_names)

        def products(a: np.ndarray, b: np.ndarray) -> float:
            return sum(float(np.sum((a[r] @ g) * b[r])) for r, g in grams)

        floor = products(residual, residual)  # squared error of the perturbed mean
        records = []
        for params in self._grid(n_known):
            weights = np.zeros((n_known, n_all))
            weights[:, columns] = self._loo_weights(self._vectors, params)
            gap = weights - mean
            cross, spread = products(residual, gap), products(gap, gap)
            if self.shrinkage is not None:
                gain = 1.0 - self.shrinkage
            else:
                gain = float(np.clip(cross / spread, 0.0, 1.0)) if spread > 0 else 0.0
            records.append(
                params
                | {
                    "shrinkage": 1.0 - gain,
                    "mse": (floor - 2.0 * gain * cross + gain**2 * spread) / scale,
                    "mse_unshrunk": (floor - 2.0 * cross + spread) / scale,
                }
            )
        self.loo_ = pd.DataFrame(records)
        best = records[int(np.argmin(self.loo_["mse"].to_numpy()))]
        self.hyperparameters_ = {
            **{k: v for k, v in best.items() if k != "mse_unshrunk"},
            "mse_perturbed_mean": floor / scale,
            "n_known": n_known,
        }

    def _params(self) -> dict[str, float]:
        return {k: self.hyperparameters_[k] for k in self._grid(len(self._known))[0]}

    def _component(self, name: str) -> dict[str, Any]:
        """Weights over the seen singles predicting ``name``, and the record of its neighbours."""
        if name in self._components:
            return self._components[name]
        if not self.hyperparameters_:
            raise ValueError(
                f"{type(self).__name__} predicts {name!r} from at least {MIN_KNOWN} perturbations "
                f"seen in training with knowledge; it has {len(self._known)}."
            )
        vector = self.knowledge.vectors([name])[name]
        if vector.size != self._vectors.shape[1]:
            raise ValueError(
                f"The knowledge vector of {name!r} has length {vector.size}; those of the seen "
                f"perturbations have length {self._vectors.shape[1]}."
            )
        weights = self._query_weights(vector, self._vectors, self._params())
        alpha = self.hyperparameters_["shrinkage"]
        total = np.full(len(self._pool), alpha / len(self._pool))
        total[[self._pool.index(p) for p in self._known]] += (1.0 - alpha) * weights
        similarity = _cosine(self._vectors, vector)
        shown = np.argsort(-similarity, kind="stable")[: self._n_shown]
        self._components[name] = {
            "weights": total,
            "record": {
                "knowledge": self.knowledge.source(name),
                "support": float(similarity.max()),
                "neighbours": np.array([self._known[i] for i in shown], dtype=str),
                "similarities": similarity[shown],
                "weights": weights[shown],
            },
        }
        return self._components[name]

    def _unseen(self, perturbation: str) -> list[str]:
        """The components of ``perturbation`` that need a prediction from knowledge."""
        if perturbation == self.control_value or perturbation in self.shifts_:
            return []
        if not is_combination(perturbation, self.combination_delimiter):
            return [perturbation]
        parts = self._components_of(perturbation)
        return [c for c in dict.fromkeys(parts) if c not in self.shifts_]

    def _single_shift(self, perturbation: str, cell_type: str) -> np.ndarray | None:
        own = super()._single_shift(perturbation, cell_type)
        if own is not None or is_combination(perturbation, self.combination_delimiter):
            return own
        if perturbation == self.control_value:
            return np.zeros(len(self.var_names))
        return self._component(perturbation)["weights"] @ self._effects(cell_type)

    def shift(self, perturbation: str, cell_type: str | None = None) -> np.ndarray:
        """Shift applied for ``perturbation``: measured, predicted from knowledge, or summed.

        Parameters
        ----------
        perturbation
            Any perturbation: seen, a single never measured with knowledge, or a combination of
            such components.
        cell_type
            Cell type of the control cells (ignored without ``cell_type_key``).

        Raises
        ------
        ValueError
            If a component never measured has no knowledge (the error names each, with close
            known names), or too few seen perturbations have knowledge.
        """
        if not self.is_trained:
            raise RuntimeError(f"{type(self).__name__} is not trained; call `.train()` first.")
        perturbation = str(perturbation)
        unseen = self._unseen(perturbation)
        unknown = [c for c in unseen if c not in self.knowledge]
        if unknown:
            raise ValueError(unknown_message(unknown, [*self.knowledge.names, *self._singles]))
        for component in unseen:
            self._component(component)
        effect = super().shift(perturbation, cell_type)
        self.support_[perturbation] = self._record(perturbation, unseen)
        return effect

    def _record(self, perturbation: str, unseen: list[str]) -> dict[str, Any]:
        """How ``perturbation`` was predicted, for :attr:`support_` and ``uns``."""
        if perturbation in self.shifts_:
            observed = [perturbation]
        else:
            parts = self._components_of(perturbation)
            observed = [c for c in dict.fromkeys(parts) if c not in unseen]
        predicted = {c: copy.deepcopy(self._components[c]["record"]) for c in unseen}
        return {
            "perturbation": perturbation,
            "baseline": type(self).__name__,
            "support": min((r["support"] for r in predicted.values()), default=1.0),
            "observed": np.array(observed, dtype=str),
            "predicted": predicted,
            "hyperparameters": dict(self.hyperparameters_),
        }

    def _prediction_params(self, perturbation: str) -> dict[str, Any] | None:
        record = self.support_.get(perturbation)
        return copy.deepcopy(record) if record is not None else None


def _cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine similarity of each row of ``vectors`` with ``query``."""
    norms = np.maximum(np.linalg.norm(vectors, axis=1) * np.linalg.norm(query), 1e-12)
    return vectors @ query / norms
