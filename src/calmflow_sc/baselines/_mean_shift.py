"""Baseline adding the average perturbation effect to control cells."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._anndata import get_expression
from .._docs import doc
from .._suggest import did_you_mean
from ..data import is_combination, label_parts
from ._base import Baseline
from ._expression import group_means

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

    from anndata import AnnData

# cell-type label used for all cells when no `cell_type_key` is given
_ALL_CELLS = "__all__"


@doc.dedent
class MeanShiftBaseline(Baseline):
    r"""Predict a control cell plus the mean shift caused by the perturbation.

    Training estimates, for every cell type :math:`c` and perturbation :math:`p` observed together
    with control cells of :math:`c`, the shift of mean expression
    :math:`\delta_{c,p} = \overline{x}_{c,p} - \overline{x}_{c,\mathrm{control}}`
    (all cells form one group without ``cell_type_key``). The prediction for a control cell
    :math:`x` of cell type :math:`c` under perturbation :math:`p` is
    :math:`\max(x + \delta, 0)`, where :math:`\delta` is

    1. :math:`\delta_{c,p}` when :math:`p` was seen in cell type :math:`c`;
    2. otherwise the unweighted average of :math:`\delta_{c',p}` over the other cell types
       :math:`c'` where :math:`p` was seen (each cell type counts equally, whatever its size);
    3. otherwise, for an unseen combination such as ``"A+B"`` (components separated by
       ``combination_delimiter``), the sum of the component shifts, each found by rules 1-2
       (additive model); components equal to ``control_value`` (e.g. ``"A+ctrl"``) add nothing;
    4. zero when :math:`p` is ``control_value``.

    Predictions are clipped at 0, as fits log-normalised expression (``clip=False`` disables it).

    Parameters
    ----------
    adata
        Training data with control and perturbed cells (never modified).
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s
        Shifts are then estimated per cell type and :meth:`predict` needs the same column.
    %(param_layer)s
    combination_delimiter
        Separator of the components of a combinatorial perturbation.
    clip
        Clip predictions at 0.

    Attributes
    ----------
    shifts_
        After training: ``{perturbation: {cell_type: shift}}`` with float64 shift vectors of length
        ``n_genes``. Without ``cell_type_key`` the only cell type is ``"__all__"``.

    Examples
    --------
    >>> baseline = MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type")  # doctest: +SKIP
    >>> baseline.train().predict(adata_ctrl, "stim", key_added="pred")  # doctest: +SKIP
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
        combination_delimiter: str = "+",
        clip: bool = True,
    ) -> None:
        super().__init__(
            adata, perturbation_key, control_value, cell_type_key, layer, covariate_keys
        )
        if not combination_delimiter:
            raise ValueError("`combination_delimiter` must be a non-empty string.")
        self.combination_delimiter = combination_delimiter
        self.clip = clip
        self.shifts_: dict[str, dict[str, np.ndarray]] = {}

    @property
    def perturbations(self) -> list[str]:
        """Perturbations with an estimated shift (sorted; empty before training)."""
        return sorted(self.shifts_)

    def _train(self) -> None:
        obs = self.adata.obs
        perturbations = obs[self.perturbation_key].astype(str).to_numpy()
        if self.cell_type_key is None:
            cell_types = np.full(self.adata.n_obs, _ALL_CELLS, dtype=object)
        else:
            cell_types = obs[self.cell_type_key].astype(str).to_numpy()
        codes, groups = pd.factorize(pd.MultiIndex.from_arrays([cell_types, perturbations]))
        means = group_means(get_expression(self.adata, self.layer), codes, len(groups))
        index = {(str(ct), str(p)): i for i, (ct, p) in enumerate(groups)}

        shifts: dict[str, dict[str, np.ndarray]] = {}
        for (cell_type, perturbation), i in index.items():
            control = index.get((cell_type, self.control_value))
            if perturbation == self.control_value or control is None:
                continue
            shifts.setdefault(perturbation, {})[cell_type] = means[i] - means[control]
        self.shifts_ = shifts

    def _single_shift(self, perturbation: str, cell_type: str) -> np.ndarray | None:
        """Shift of a perturbation seen in training (rules 1-2), or ``None`` if never seen."""
        by_cell_type = self.shifts_.get(perturbation)
        if not by_cell_type:
            return None
        if cell_type in by_cell_type:
            return by_cell_type[cell_type]
        return np.mean(np.stack(list(by_cell_type.values())), axis=0)

    def shift(self, perturbation: str, cell_type: str | None = None) -> np.ndarray:
        """Mean-expression shift applied for ``perturbation`` to cells of ``cell_type``.

        Parameters
        ----------
        perturbation
            Perturbation, possibly an unseen combination such as ``"A+B"``.
        cell_type
            Cell type of the control cells (ignored without ``cell_type_key``). A cell type not
            seen in training uses the average over the training cell types.

        Returns
        -------
        Float64 vector of length ``n_genes``.

        Raises
        ------
        RuntimeError
            If the baseline is not trained.
        ValueError
            If the perturbation was not seen in training and cannot be composed from seen ones.
        """
        if not self.is_trained:
            raise RuntimeError(f"{type(self).__name__} is not trained; call `.train()` first.")
        perturbation = str(perturbation)
        cell_type = _ALL_CELLS if self.cell_type_key is None else str(cell_type)
        if perturbation == self.control_value:
            return np.zeros(len(self.var_names))
        single = self._single_shift(perturbation, cell_type)
        if single is not None:
            return single.copy()
        if is_combination(perturbation, self.combination_delimiter):
            components = [
                part
                for part in label_parts(perturbation, self.combination_delimiter)
                if part != self.control_value
            ]
            shifts = {c: self._single_shift(c, cell_type) for c in components}
            missing = [c for c, s in shifts.items() if s is None]
            if not missing:
                total = np.zeros(len(self.var_names))
                for component in components:
                    total += shifts[component]
                return total
            raise ValueError(
                f"Cannot compose perturbation {perturbation!r}: component(s) {missing} were not "
                f"seen in training.{did_you_mean(missing[0], self.perturbations)} Known "
                f"perturbations: {_preview(self.perturbations)}."
            )
        raise ValueError(
            f"Perturbation {perturbation!r} was not seen in training and is not a combination of "
            f"seen perturbations (delimiter {self.combination_delimiter!r})."
            f"{did_you_mean(perturbation, self.perturbations)} Known perturbations: "
            f"{_preview(self.perturbations)}."
        )

    def _predict_expression(
        self,
        expression: np.ndarray,
        contexts: pd.DataFrame,
        perturbation: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        cell_types = None if self.cell_type_key is None else contexts[self.cell_type_key].to_numpy()
        if cell_types is None:
            expression += self.shift(perturbation)
        else:
            for cell_type in np.unique(cell_types):
                expression[cell_types == cell_type] += self.shift(perturbation, cell_type)
        if self.clip:
            np.maximum(expression, 0.0, out=expression)
        return expression


def _preview(names: list[str], n: int = 10) -> str:
    """Comma-separated first ``n`` names, with the number left out."""
    shown = ", ".join(repr(name) for name in names[:n])
    return shown + (f", ... ({len(names) - n} more)" if len(names) > n else "")
