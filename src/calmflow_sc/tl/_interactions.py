"""Genetic-interaction calls for pairs of perturbations, after Norman et al. (2019)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._anndata import check_column, get_expression
from .._docs import doc
from ..data import label_parts

LABELS = ("additive", "synergistic", "buffering", "first dominant", "second dominant", "neomorphic")


def _mean_changes(
    adata: AnnData, perturbation_key: str, control_value: str, layer: str | None
) -> dict[str, np.ndarray]:
    """Each perturbation's mean expression minus the control cells' mean."""
    check_column(adata.obs, perturbation_key, "perturbation_key")
    labels = adata.obs[perturbation_key].astype(str).to_numpy()
    if not (labels == control_value).any():
        raise ValueError(f"No control cells: no value of the column equals {control_value!r}.")
    expression = get_expression(adata, layer)
    means = {}
    for label in pd.unique(labels):
        rows = np.flatnonzero(labels == label)
        means[label] = np.asarray(expression[rows].mean(axis=0), dtype=np.float64).ravel()
    control = means.pop(control_value)
    return {label: mean - control for label, mean in means.items()}


def interaction_scores(
    effects: Mapping[str, np.ndarray],
    pairs: Sequence[str] | None = None,
    delimiter: str = "+",
    n_top_genes: int | None = 200,
    min_fit: float = 0.8,
    dominance_ratio: float = 3.0,
    additive_range: tuple[float, float] = (0.8, 1.25),
) -> pd.DataFrame:
    r"""Fit each pair's mean change on its singles' and call the interaction.

    For a pair ``A+B`` with mean changes :math:`\delta_{AB}, \delta_A, \delta_B` (vectors over
    genes), least squares without intercept gives
    :math:`\delta_{AB} \approx c_A \delta_A + c_B \delta_B` over the ``n_top_genes`` genes
    that change most in any of the three. The call, in this order:

    - ``"neomorphic"``: the fit explains less than ``min_fit`` of the pair's change
      (:math:`R^2`, uncentred): the pair does something its singles do not;
    - ``"first dominant"`` / ``"second dominant"``: one coefficient exceeds the other by more
      than ``dominance_ratio`` (in absolute value);
    - ``"synergistic"`` / ``"buffering"``: the mean coefficient :math:`(c_A + c_B) / 2` is above
      / below ``additive_range``;
    - ``"additive"`` otherwise (both coefficients near 1).

    Parameters
    ----------
    effects
        Mean change from control per perturbation label (singles and pairs), e.g. observed or
        predicted.
    pairs
        Pairs to score; ``None`` scores every two-component label whose singles are present.
    delimiter
        Separator of a pair's components.
    n_top_genes
        Genes used in the fit: those with the largest absolute change in the pair or either
        single; ``None`` uses every gene.
    min_fit, dominance_ratio, additive_range
        Thresholds of the calls.

    Returns
    -------
    One row per pair: ``pair``, ``first``, ``second``, ``coef_first``, ``coef_second``,
    ``fit`` (:math:`R^2`), ``magnitude`` (:math:`\sqrt{c_A^2 + c_B^2}`, :math:`\sqrt 2` when
    additive), ``dominance`` (:math:`|\log_{10}(|c_A| / |c_B|)|`), ``mean_coefficient``,
    ``n_genes`` and ``label``.
    """
    effects = {str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in effects.items()}
    if pairs is None:
        pairs = [
            label
            for label in effects
            if len(parts := label_parts(label, delimiter)) == 2
            and all(part in effects for part in parts)
        ]
    rows = []
    for pair in pairs:
        parts = label_parts(pair, delimiter)
        if len(parts) != 2:
            raise ValueError(f"{pair!r} is not a pair of two components joined by {delimiter!r}.")
        missing = [name for name in (pair, *parts) if name not in effects]
        if missing:
            raise KeyError(f"No mean change for {missing}; the pair and both singles are needed.")
        first, second = parts
        target, a, b = effects[pair], effects[first], effects[second]
        genes = np.arange(len(target))
        if n_top_genes is not None and n_top_genes < len(target):
            size = np.max(np.abs(np.stack([target, a, b])), axis=0)
            genes = np.argsort(-size, kind="stable")[:n_top_genes]
        design = np.stack([a[genes], b[genes]], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, target[genes], rcond=None)
        fitted = design @ coefficients
        total = float(np.sum(target[genes] ** 2))
        fit = 1.0 - float(np.sum((target[genes] - fitted) ** 2)) / total if total > 0 else 0.0
        c_first, c_second = (float(c) for c in coefficients)
        small = 1e-12
        dominance = abs(np.log10((abs(c_first) + small) / (abs(c_second) + small)))
        mean_coefficient = (c_first + c_second) / 2
        if fit < min_fit:
            label = "neomorphic"
        elif dominance > np.log10(dominance_ratio):
            label = "first dominant" if abs(c_first) > abs(c_second) else "second dominant"
        elif mean_coefficient > additive_range[1]:
            label = "synergistic"
        elif mean_coefficient < additive_range[0]:
            label = "buffering"
        else:
            label = "additive"
        rows.append(
            {
                "pair": pair,
                "first": first,
                "second": second,
                "coef_first": c_first,
                "coef_second": c_second,
                "fit": fit,
                "magnitude": float(np.hypot(c_first, c_second)),
                "dominance": float(dominance),
                "mean_coefficient": mean_coefficient,
                "n_genes": len(genes),
                "label": label,
            }
        )
    columns = ["pair", "first", "second", "coef_first", "coef_second", "fit", "magnitude"]
    columns += ["dominance", "mean_coefficient", "n_genes", "label"]
    return pd.DataFrame(rows, columns=columns)


@doc.dedent
def interactions(
    adata: AnnData,
    perturbation_key: str = "condition",
    control_value: str = "control",
    layer: str | None = None,
    pairs: Sequence[str] | None = None,
    key_added: str | None = "calmflow_interactions",
    **kwargs,
) -> pd.DataFrame:
    """Call genetic interactions of the pairs in an AnnData, scanpy style.

    Mean changes from the control cells are computed per perturbation label (observed cells,
    or predictions concatenated with their labels) and each pair is fitted on its singles'
    changes (:func:`interaction_scores`).

    Parameters
    ----------
    adata
        Cells of the controls, the singles and the pairs.
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_layer)s
    pairs
        Pairs to score; ``None`` for every pair whose singles are present.
    key_added
        The table is also stored in ``adata.uns[key_added]`` (as a dict of columns), where
        :func:`calmflow_sc.pl.interactions` reads it; ``None`` stores nothing.
    **kwargs
        Thresholds and gene selection of :func:`interaction_scores`.

    Returns
    -------
    One row per pair, see :func:`interaction_scores`.

    Examples
    --------
    >>> import calmflow_sc as cfs
    >>> adata = cfs.datasets.simulated()
    >>> table = cfs.tl.interactions(adata, perturbation_key="condition")
    >>> table[["pair", "coef_first", "coef_second", "label"]]  # doctest: +SKIP
    """
    effects = _mean_changes(adata, perturbation_key, str(control_value), layer)
    table = interaction_scores(effects, pairs=pairs, **kwargs)
    if key_added is not None:
        adata.uns[key_added] = {column: table[column].to_numpy() for column in table.columns}
    return table
