"""Common interface of the perturbation-response baselines."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd
from anndata import AnnData

from .._anndata import AnnDataKeyError, as_key_list, check_column, get_expression
from .._dense import to_dense_float64
from .._docs import doc
from .._outputs import check_output_keys, check_seed, record_outputs
from ..data import check_setup

if TYPE_CHECKING:
    from collections.abc import Hashable

#: Key of ``adata.uns`` where :meth:`Baseline.setup_anndata` records the registered columns.
SETUP_KEY = "_calmflow_sc_baseline_setup"

_DEFAULTS: dict[str, Any] = {
    "perturbation_key": "condition",
    "control_value": "control",
    "cell_type_key": None,
    "covariate_keys": None,
    "layer": None,
}


@doc.dedent
class Baseline(ABC):
    """Base class of the perturbation-response baselines.

    Baselines have the surface of :class:`~calmflow_sc.CaLMFlowPerturb`: register the data with
    :meth:`setup_anndata` (or pass the keys to the constructor), build the baseline on it,
    :meth:`train`, then :meth:`predict` control cells under a perturbation or
    :meth:`generate` cells of given conditions. The training AnnData is only read.

    Each key left as ``None`` is taken from :meth:`setup_anndata` when ``adata`` was
    registered, else from the defaults (``"condition"``, ``"control"``, no cell type, no
    covariates, ``X``).

    Parameters
    ----------
    adata
        Training data: cells by genes, with the perturbation of every cell in
        ``adata.obs[perturbation_key]``.
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s
        The data passed to :meth:`predict` must then carry the same column.
    %(param_layer)s
    %(param_covariate_keys)s
        Baselines that use them say so.

    Raises
    ------
    ValueError
        If a key is missing from ``adata`` or there is no control cell.
    """

    def __init__(
        self,
        adata: AnnData,
        perturbation_key: str | None = None,
        control_value: Hashable | None = None,
        cell_type_key: str | None = None,
        layer: str | None = None,
        covariate_keys: str | Sequence[str] | None = None,
    ) -> None:
        if not isinstance(adata, AnnData):
            raise TypeError(f"`adata` must be an AnnData, got {type(adata).__name__}.")
        setup = {**_DEFAULTS, **dict(adata.uns.get(SETUP_KEY, {}))}
        given = {
            "perturbation_key": perturbation_key,
            "control_value": control_value,
            "cell_type_key": cell_type_key,
            "covariate_keys": covariate_keys,
            "layer": layer,
        }
        setup.update({key: value for key, value in given.items() if value is not None})
        perturbation_key = str(setup["perturbation_key"])
        cell_type_key = setup["cell_type_key"]
        covariate_keys = as_key_list(setup["covariate_keys"])
        check_column(adata.obs, perturbation_key, "perturbation_key")
        for key, argument in [(cell_type_key, "cell_type_key")] + [
            (key, "covariate_keys") for key in covariate_keys
        ]:
            if key is not None:
                check_column(adata.obs, key, argument)
        layer = setup["layer"]
        get_expression(adata, layer)  # validates the layer
        control_value = str(setup["control_value"])
        perturbations = adata.obs[perturbation_key].astype(str).to_numpy()
        if not np.any(perturbations == control_value):
            raise ValueError(
                f"No control cells: no value of `adata.obs[{perturbation_key!r}]` equals "
                f"{control_value!r}."
            )
        self.adata = adata
        self.perturbation_key = perturbation_key
        self.control_value = control_value
        self.cell_type_key = cell_type_key
        self.covariate_keys = covariate_keys
        self.layer = layer
        self.var_names = adata.var_names.copy()
        self.is_trained = False

    @classmethod
    @doc.dedent
    def setup_anndata(
        cls,
        adata: AnnData,
        perturbation_key: str = "condition",
        control_value: Hashable = "control",
        cell_type_key: str | None = None,
        covariate_keys: str | Sequence[str] | None = None,
        layer: str | None = None,
    ) -> None:
        """Register the columns of an AnnData, as :meth:`CaLMFlowPerturb.setup_anndata` does.

        Every argument is validated first; the only thing written is the record of these
        arguments in ``adata.uns["_calmflow_sc_baseline_setup"]``, which travels with copies
        and subsets of ``adata``.

        Parameters
        ----------
        adata
            Training data.
        %(param_perturbation_key)s
        %(param_control_value)s
        %(param_cell_type_key)s
        %(param_covariate_keys)s
        %(param_layer)s
        """
        covariate_keys = as_key_list(covariate_keys) or None
        check_setup(adata, perturbation_key, control_value, cell_type_key, covariate_keys, layer)
        adata.uns[SETUP_KEY] = {
            "perturbation_key": perturbation_key,
            "control_value": str(control_value),
            "cell_type_key": cell_type_key,
            "covariate_keys": covariate_keys,
            "layer": layer,
        }

    @property
    def context_keys(self) -> list[str]:
        """The obs columns that describe a cell besides its perturbation."""
        keys = [self.cell_type_key] if self.cell_type_key is not None else []
        return keys + list(self.covariate_keys)

    def _contexts(self, obs: pd.DataFrame, name: str) -> pd.DataFrame:
        missing = [key for key in self.context_keys if key not in obs.columns]
        if missing:
            raise AnnDataKeyError(
                f"Column(s) {missing} not found in `{name}.obs`; the baseline was set up with "
                f"{self.context_keys}."
            )
        return pd.DataFrame(
            {key: obs[key].astype(str).to_numpy() for key in self.context_keys}, index=obs.index
        )

    def train(self) -> Self:
        """Estimate what the baseline needs from the training data.

        Returns
        -------
        The baseline itself, to allow ``Baseline(adata).train().predict(...)``.
        """
        self._train()
        self.is_trained = True
        return self

    def _check_trained(self) -> None:
        if not self.is_trained:
            raise RuntimeError(f"{type(self).__name__} is not trained; call `.train()` first.")

    def predict(
        self,
        adata_ctrl: AnnData,
        perturbation: str,
        key_added: str = "prediction",
        inplace: bool = True,
        seed: int = 0,
        overwrite: bool = False,
    ) -> AnnData | None:
        """Predict the expression of control cells under a perturbation.

        Parameters
        ----------
        adata_ctrl
            Control cells to perturb, with the training ``var_names`` in the same order, the
            expression in the same ``layer`` and the cell-type and covariate columns the
            baseline was set up with.
        perturbation
            The perturbation to apply, as named in the training ``perturbation_key`` column.
        key_added
            Layer of ``adata_ctrl`` that receives the prediction when ``inplace`` is ``True``.
        inplace
            Write the prediction to ``adata_ctrl.layers[key_added]`` and return ``None``; otherwise
            leave ``adata_ctrl`` untouched and return a new AnnData.
        seed
            Seed of any sampling (baselines that sample say so).
        overwrite
            Allow ``key_added`` to replace a layer that an earlier prediction did not write,
            or the layer the baseline reads; without it such names are refused.

        Returns
        -------
        ``None`` when ``inplace``; otherwise a new AnnData whose ``X`` is the prediction (dense
        float32), with copies of ``adata_ctrl.obs`` and ``.var`` and ``obs[perturbation_key]`` set
        to ``perturbation``. Baselines that record how they predicted (the knowledge baselines)
        write it to ``uns[key_added + "_params"]`` of ``adata_ctrl`` or of the new AnnData.

        Raises
        ------
        RuntimeError
            If the baseline is not trained.
        ValueError
            If ``adata_ctrl`` does not match the training data, or the perturbation cannot be
            predicted.
        """
        self._check_trained()
        if not adata_ctrl.var_names.equals(self.var_names):
            raise ValueError(
                "`adata_ctrl` must have the training var_names in the same order "
                f"({adata_ctrl.n_vars} vs {len(self.var_names)} genes)."
            )
        seed = check_seed(seed)
        if inplace:
            check_output_keys(
                adata_ctrl,
                key_added,
                layer=key_added,
                protected_layer=self.layer,
                overwrite=overwrite,
            )
        contexts = self._contexts(adata_ctrl.obs, "adata_ctrl")
        expression = to_dense_float64(get_expression(adata_ctrl, self.layer, "adata_ctrl"))
        if not np.isfinite(expression).all():
            raise ValueError(
                f"adata_ctrl holds {int((~np.isfinite(expression)).sum())} NaN or infinite "
                "values; remove or impute them before predicting."
            )
        prediction = self._predict_expression(
            expression, contexts, str(perturbation), np.random.default_rng(seed)
        )
        prediction = np.ascontiguousarray(prediction, dtype=np.float32)
        if not np.isfinite(prediction).all():
            raise FloatingPointError(
                f"{type(self).__name__} predicted non-finite values; nothing was written. "
                "Check the training data and that training ended without errors."
            )
        params = self._prediction_params(str(perturbation))
        uns = {} if params is None else {f"{key_added}_params": params}
        if inplace:
            record_outputs(adata_ctrl, key_added)
            adata_ctrl.layers[key_added] = prediction
            adata_ctrl.uns.update(uns)
            return None
        result = AnnData(prediction, obs=adata_ctrl.obs.copy(), var=adata_ctrl.var.copy(), uns=uns)
        result.obs[self.perturbation_key] = str(perturbation)
        return result

    def generate(self, obs_df: pd.DataFrame, seed: int = 0) -> AnnData:
        """Generate one cell per row of ``obs_df``.

        Each row names a perturbation and the cell-type and covariate columns the baseline
        was set up with. By default a training control cell of the same cell type and
        covariates is drawn (of the same cell type when none matches them all, of any type when
        the cell type has none) and perturbed with :meth:`predict`'s rule.

        Parameters
        ----------
        obs_df
            One row per cell to generate.
        seed
            Seed of the draws.

        Returns
        -------
        AnnData with the generated expression in ``X`` (training genes) and a copy of
        ``obs_df`` as ``obs``.
        """
        self._check_trained()
        if not isinstance(obs_df, pd.DataFrame) or len(obs_df) == 0:
            raise ValueError("obs_df must be a non-empty pandas DataFrame, one row per cell.")
        if self.perturbation_key not in obs_df:
            raise AnnDataKeyError(f"Column {self.perturbation_key!r} not found in `obs_df`.")
        contexts = self._contexts(obs_df, "obs_df")
        rng = np.random.default_rng(seed)
        perturbations = obs_df[self.perturbation_key].astype(str).to_numpy()
        out = np.zeros((len(obs_df), len(self.var_names)), dtype=np.float32)
        for perturbation in np.unique(perturbations):
            rows = np.flatnonzero(perturbations == perturbation)
            out[rows] = self._generate_expression(contexts.iloc[rows], perturbation, rng)
        obs = obs_df.copy()
        obs.index = pd.Index([str(i) for i in obs_df.index])
        return AnnData(X=out, obs=obs, var=pd.DataFrame(index=self.var_names.copy()))

    def _generate_expression(
        self, contexts: pd.DataFrame, perturbation: str, rng: np.random.Generator
    ) -> np.ndarray:
        """Perturb training controls drawn to match ``contexts``."""
        controls = self._draw_controls(contexts, rng)
        return self._predict_expression(controls, contexts, perturbation, rng)

    def _draw_controls(self, contexts: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Dense expression of one training control cell per row of ``contexts``."""
        obs = self.adata.obs
        is_control = obs[self.perturbation_key].astype(str).to_numpy() == self.control_value
        rows = [tuple(row) for row in contexts.to_numpy(dtype=str)]
        pools = control_pools(self._contexts(obs, "adata").to_numpy(dtype=str), is_control, rows)
        chosen = np.array([rng.choice(pools[row]) for row in rows], dtype=np.int64)
        return to_dense_float64(get_expression(self.adata, self.layer)[chosen])

    def _prediction_params(self, perturbation: str) -> dict[str, Any] | None:
        """What :meth:`predict` records in ``uns[key_added + "_params"]`` (``None``: nothing)."""
        return None

    @abstractmethod
    def _train(self) -> None:
        """Estimate the baseline's parameters from ``self.adata``."""

    @abstractmethod
    def _predict_expression(
        self,
        expression: np.ndarray,
        contexts: pd.DataFrame,
        perturbation: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Predict perturbed expression.

        Parameters
        ----------
        expression
            Dense float64 expression of the control cells, ``(n_cells, n_genes)``; may be modified.
        contexts
            The cell-type and covariate columns (as str) of those cells.
        perturbation
            The perturbation to apply.
        rng
            Random generator for baselines that sample.

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


def control_pools(
    contexts: np.ndarray, is_control: np.ndarray, rows: Iterable[tuple[str, ...]]
) -> dict[tuple[str, ...], np.ndarray]:
    """Indices of the control cells matching each context row.

    A row matches on all its keys; a row with no such control falls back to matching fewer
    keys, dropping the last ones first (covariates before the cell type), and finally to every
    control cell.

    Parameters
    ----------
    contexts
        Context values (as str) of every training cell, ``(n_cells, n_keys)``.
    is_control
        Which training cells are controls.
    rows
        The context rows to find controls for.

    Returns
    -------
    ``{row: indices}`` for every distinct row.
    """
    pools = {}
    for row in dict.fromkeys(rows):
        pool = np.flatnonzero(is_control)
        for n_keys in range(len(row), 0, -1):
            match = is_control & np.all(contexts[:, :n_keys] == np.asarray(row[:n_keys]), axis=1)
            if match.any():
                pool = np.flatnonzero(match)
                break
        pools[row] = pool
    return pools
