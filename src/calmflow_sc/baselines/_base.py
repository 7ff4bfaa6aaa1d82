"""Common interface of the non-learned perturbation-response baselines."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Self

import numpy as np
from anndata import AnnData

from .._anndata import get_expression
from ._expression import to_dense_float64

if TYPE_CHECKING:
    from collections.abc import Hashable


class Baseline(ABC):
    """Base class of simple perturbation-response baselines.

    A baseline is built on a training AnnData holding control and perturbed cells, trained with
    :meth:`train`, and predicts the expression of control cells under a perturbation with
    :meth:`predict`, with the same surface as the main model. The training AnnData is only read,
    never modified.

    Parameters
    ----------
    adata
        Training data: cells by genes, with the perturbation of every cell in
        ``adata.obs[perturbation_key]``.
    perturbation_key
        Column of ``adata.obs`` naming the perturbation of every cell.
    control_value
        Value of ``adata.obs[perturbation_key]`` that marks control (unperturbed) cells.
    cell_type_key
        Optional column of ``adata.obs`` with the cell type (or other context) of every cell.
        Effects are then estimated per cell type, and the data passed to :meth:`predict` must
        carry the same column.
    layer
        Layer with the expression to model (e.g. log-normalised counts); ``X`` if ``None``.

    Raises
    ------
    ValueError
        If a key is missing from ``adata`` or there is no control cell.
    """

    def __init__(
        self,
        adata: AnnData,
        perturbation_key: str = "condition",
        control_value: Hashable = "control",
        cell_type_key: str | None = None,
        layer: str | None = None,
    ) -> None:
        if not isinstance(adata, AnnData):
            raise TypeError(f"`adata` must be an AnnData, got {type(adata).__name__}.")
        for key in (perturbation_key, cell_type_key):
            if key is not None and key not in adata.obs:
                raise ValueError(f"Column {key!r} not found in `adata.obs`.")
        get_expression(adata, layer)  # validates the layer
        perturbations = adata.obs[perturbation_key].astype(str).to_numpy()
        if not np.any(perturbations == str(control_value)):
            raise ValueError(
                f"No control cells: no value of `adata.obs[{perturbation_key!r}]` equals "
                f"{control_value!r}."
            )
        self.adata = adata
        self.perturbation_key = perturbation_key
        self.control_value = str(control_value)
        self.cell_type_key = cell_type_key
        self.layer = layer
        self.var_names = adata.var_names.copy()
        self.is_trained = False

    def train(self) -> Self:
        """Estimate what the baseline needs from the training data.

        Returns
        -------
        The baseline itself, to allow ``Baseline(adata).train().predict(...)``.
        """
        self._train()
        self.is_trained = True
        return self

    def predict(
        self,
        adata_ctrl: AnnData,
        perturbation: str,
        key_added: str = "prediction",
        inplace: bool = True,
    ) -> AnnData | None:
        """Predict the expression of control cells under a perturbation.

        Parameters
        ----------
        adata_ctrl
            Control cells to perturb, with the training ``var_names`` in the same order, the
            expression in the same ``layer`` and, when the baseline uses cell types, the
            ``cell_type_key`` column in ``obs``.
        perturbation
            The perturbation to apply, as named in the training ``perturbation_key`` column.
        key_added
            Layer of ``adata_ctrl`` that receives the prediction when ``inplace`` is ``True``.
        inplace
            Write the prediction to ``adata_ctrl.layers[key_added]`` and return ``None``; otherwise
            leave ``adata_ctrl`` untouched and return a new AnnData.

        Returns
        -------
        ``None`` when ``inplace``; otherwise a new AnnData whose ``X`` is the prediction (dense
        float32), with copies of ``adata_ctrl.obs`` and ``.var`` and ``obs[perturbation_key]`` set
        to ``perturbation``.

        Raises
        ------
        RuntimeError
            If the baseline is not trained.
        ValueError
            If ``adata_ctrl`` does not match the training data, or the perturbation cannot be
            predicted.
        """
        if not self.is_trained:
            raise RuntimeError(f"{type(self).__name__} is not trained; call `.train()` first.")
        if not adata_ctrl.var_names.equals(self.var_names):
            raise ValueError(
                "`adata_ctrl` must have the training var_names in the same order "
                f"({adata_ctrl.n_vars} vs {len(self.var_names)} genes)."
            )
        if self.cell_type_key is not None and self.cell_type_key not in adata_ctrl.obs:
            raise ValueError(f"Column {self.cell_type_key!r} not found in `adata_ctrl.obs`.")
        expression = to_dense_float64(get_expression(adata_ctrl, self.layer, "adata_ctrl"))
        cell_types = (
            None
            if self.cell_type_key is None
            else adata_ctrl.obs[self.cell_type_key].astype(str).to_numpy()
        )
        prediction = self._predict_expression(expression, cell_types, str(perturbation))
        prediction = np.ascontiguousarray(prediction, dtype=np.float32)
        if inplace:
            adata_ctrl.layers[key_added] = prediction
            return None
        result = AnnData(X=prediction, obs=adata_ctrl.obs.copy(), var=adata_ctrl.var.copy())
        result.obs[self.perturbation_key] = str(perturbation)
        return result

    @abstractmethod
    def _train(self) -> None:
        """Estimate the baseline's parameters from ``self.adata``."""

    @abstractmethod
    def _predict_expression(
        self, expression: np.ndarray, cell_types: np.ndarray | None, perturbation: str
    ) -> np.ndarray:
        """Predict perturbed expression.

        Parameters
        ----------
        expression
            Dense float64 expression of the control cells, ``(n_cells, n_genes)``; may be modified.
        cell_types
            Cell type (as str) of every control cell, or ``None`` without ``cell_type_key``.
        perturbation
            The perturbation to apply.

        Returns
        -------
        Predicted expression of shape ``(n_cells, n_genes)``.
        """

    def __repr__(self) -> str:
        status = "trained" if self.is_trained else "untrained"
        return (
            f"{type(self).__name__}(perturbation_key={self.perturbation_key!r}, "
            f"control_value={self.control_value!r}, cell_type_key={self.cell_type_key!r}, "
            f"layer={self.layer!r}) [{status}, {self.adata.n_obs} cells x {self.adata.n_vars} genes]"
        )
