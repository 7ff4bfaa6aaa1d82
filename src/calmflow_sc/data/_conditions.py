"""One-hot features of conditions: cell type, covariates and perturbation components."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._suggest import did_you_mean
from ._doses import component_doses, distinct_treatments
from ._labels import perturbation_components


class ConditionEncoder:
    """Encode a cell's context and perturbation as a fixed-length numeric vector.

    The vector concatenates a one-hot code of every context column (cell type, covariates) and
    a multi-hot code of the perturbation's components, so that a combination ``"A+B"`` is the
    sum of its singles' codes. Context values never seen in training get all zeros.

    Parameters
    ----------
    levels
        The known values of every context column, in code order.
    perturbations
        The known perturbations (combinations are split into their components).
    control_value
        The perturbation of unperturbed cells (no component).
    delimiter
        Separator of the components of a combination.
    """

    def __init__(
        self,
        levels: Mapping[str, Sequence[str]],
        perturbations: Sequence[str],
        control_value: str,
        delimiter: str = "+",
    ) -> None:
        self.control_value = str(control_value)
        self.delimiter = delimiter
        self.levels = {key: [str(v) for v in values] for key, values in levels.items()}
        components = set()
        for perturbation in set(map(str, perturbations)):
            components.update(self.components(perturbation))
        self.perturbation_components = sorted(components)

    @classmethod
    def fit(
        cls,
        contexts: pd.DataFrame,
        perturbations: Sequence[str],
        control_value: str,
        delimiter: str = "+",
    ) -> ConditionEncoder:
        """Encoder of the values seen in training contexts (one str column per key)."""
        levels = {key: sorted(set(contexts[key].astype(str))) for key in contexts.columns}
        return cls(levels, perturbations, control_value, delimiter)

    @property
    def n_features(self) -> int:
        """Length of the encoded vector."""
        return sum(len(levels) for levels in self.levels.values()) + len(
            self.perturbation_components
        )

    def components(self, perturbation: str) -> list[str]:
        """The single perturbations making up ``perturbation`` (none for the control)."""
        return perturbation_components(perturbation, self.control_value, self.delimiter)

    def encode_perturbation(
        self, perturbation: str, dose: object | None = None, strict: bool = True
    ) -> np.ndarray:
        """Multi-hot code of a perturbation's components, each scaled by its dose if given.

        ``strict=False`` gives zeros for a dose that does not fit the components
        (:func:`~calmflow_sc.data.component_doses`).

        Raises
        ------
        ValueError
            If a component was never seen in training.
        """
        code = np.zeros(len(self.perturbation_components))
        index = {name: i for i, name in enumerate(self.perturbation_components)}
        parts = self.components(perturbation)
        unseen = [part for part in parts if part not in index]
        if unseen:
            raise ValueError(
                f"Perturbation {perturbation!r} has component(s) {unseen} never seen in "
                f"training.{did_you_mean(unseen[0], self.perturbation_components)} Known: "
                f"{self.perturbation_components[:10]}."
            )
        scales = [1.0] * len(parts) if dose is None else component_doses(parts, dose, strict)
        for part, scale in zip(parts, scales, strict=True):
            code[index[part]] += scale
        return code

    def encode(
        self,
        contexts: pd.DataFrame,
        perturbations: Sequence[str],
        doses: Sequence[object] | None = None,
        strict: bool = True,
    ) -> np.ndarray:
        """Encode every row of ``contexts`` with its perturbation, ``(n, n_features)``.

        ``doses`` (one per row) scale each component's code.
        """
        blocks = []
        for key, levels in self.levels.items():
            values = contexts[key].astype(str).to_numpy()
            blocks.append((values[:, None] == np.asarray(levels)[None, :]).astype(np.float64))
        treatments, rows = distinct_treatments(perturbations, doses)
        codes = [self.encode_perturbation(p, dose, strict=strict) for p, dose in treatments]
        blocks.append(
            np.stack(codes)[rows] if codes else np.zeros((0, len(self.perturbation_components)))
        )
        return np.concatenate(blocks, axis=1)
