"""Checks of user input, run before anything is written into the user's AnnData."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd
from anndata import AnnData

from .._anndata import get_expression
from .._expression import check_expression
from ._doses import check_dose_column
from ._labels import component_key, has_empty_component

MIN_TRAINING_CELLS = 16


def check_obs_column(adata: AnnData, key: str, argument: str) -> None:
    """Check that an obs column exists and has no missing values."""
    if key not in adata.obs.columns:
        raise KeyError(
            f"{argument}={key!r} is not a column of adata.obs (available: "
            f"{list(adata.obs.columns)}). Pass the name of the column that holds it."
        )
    missing = adata.obs[key].isna()
    if missing.any():
        raise ValueError(
            f"adata.obs[{key!r}] has {int(missing.sum())} missing values. Fill them (e.g. with "
            "'unknown') or drop those cells before setting up the model."
        )


def check_setup(
    adata: AnnData,
    perturbation_key: str,
    control_value: str,
    cell_type_key: str | None,
    covariate_keys: Sequence[str] | None,
    layer: str | None,
    require_control: bool = True,
    dose_key: str | None = None,
) -> None:
    """Validate every ``setup_anndata`` argument against the data."""
    if not isinstance(adata, AnnData):
        raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
    check_obs_column(adata, perturbation_key, "perturbation_key")
    if cell_type_key is not None:
        check_obs_column(adata, cell_type_key, "cell_type_key")
    for key in covariate_keys or ():
        check_obs_column(adata, key, "covariate_keys")
    if dose_key is not None and dose_key not in adata.obs.columns:
        check_obs_column(adata, dose_key, "dose_key")  # names the missing column
    keys = [perturbation_key, cell_type_key, *(covariate_keys or ()), dose_key]
    keys = [key for key in keys if key is not None]
    if len(set(keys)) != len(keys):
        raise ValueError(
            f"perturbation, cell type, covariate and dose keys must differ, got {keys}."
        )
    get_expression(adata, layer)
    check_expression(adata, layer)
    if require_control:
        check_control_value(adata.obs[perturbation_key], control_value, "adata.obs")
        check_perturbation_labels(adata.obs[perturbation_key], control_value, "adata.obs")
        for key in keys[:-1] if dose_key is not None else keys:
            warn_empty_categories(adata.obs[key], "adata.obs")
    if dose_key is not None:
        check_dose_column(
            adata.obs[dose_key], adata.obs[perturbation_key], control_value, "adata.obs"
        )


def check_control_value(labels: pd.Series, control_value: str, place: str) -> None:
    """Check that some cell carries the control value.

    Parameters
    ----------
    labels
        The perturbation column (its ``name`` is the key shown in the error).
    control_value
        The value that marks unperturbed cells.
    place
        Where the column lives, for the error (``"adata.obs"``, ``"mdata.obs"`` ...).
    """
    values = labels.astype(str)
    if not (values == str(control_value)).any():
        raise ValueError(
            f"control_value={control_value!r} does not occur in {place}[{labels.name!r}] "
            f"(values: {sorted(values.unique())[:10]}). Pass the value that marks unperturbed "
            "cells."
        )


def check_query_genes(adata: AnnData, var_names: Sequence[str]) -> None:
    """Check that a query AnnData has the training genes in the training order."""
    if list(adata.var_names) == list(var_names):
        return
    query = pd.Index(adata.var_names)
    missing = pd.Index(var_names).difference(query)
    extra = query.difference(pd.Index(var_names))
    raise ValueError(
        f"The genes of this AnnData differ from those the model was trained on "
        f"({len(missing)} missing, e.g. {list(missing[:3])}; {len(extra)} extra, e.g. "
        f"{list(extra[:3])}; or a different order). Subset and order it with "
        "`adata[:, model.var_names_].copy()`."
    )


def check_perturbation_labels(labels: pd.Series, control_value: str, place: str) -> None:
    """Reject empty labels and labels that differ only in spelling or component order.

    ``"IL4+"`` (an empty component), ``""`` and labels naming the same components
    (``"TNF+IFNB"`` and ``"IFNB+TNF"``, ``"IL4 "`` and ``"IL4"``) would silently become
    different conditions with near-identical prompts.
    """
    values = pd.Series(pd.unique(labels.astype(str)))
    present = values[values.isin(set(labels.astype(str)))]
    empty = [value for value in present if has_empty_component(value)]
    if empty:
        raise ValueError(
            f"{place}[{labels.name!r}] has labels with an empty component: {empty[:5]}. Name "
            f"every perturbation (combinations as 'A+B', no leading or trailing '+'); "
            f"unperturbed cells are {control_value!r}."
        )
    groups: dict[tuple[str, ...], list[str]] = {}
    for value in present:
        groups.setdefault(component_key(value), []).append(value)
    clashes = [sorted(group) for group in groups.values() if len(group) > 1]
    if clashes:
        raise ValueError(
            f"{place}[{labels.name!r}] names the same perturbation in several ways: "
            f"{clashes[:3]} (spaces or the order of components differ). Use one label per "
            "perturbation, e.g. adata.obs[key] = adata.obs[key].replace({...})."
        )


def warn_empty_categories(column: pd.Series, place: str) -> None:
    """Warn about categories without cells: registered as known, but never trained on."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return
    counts = column.value_counts()
    empty = [str(category) for category in column.cat.categories if counts.get(category, 0) == 0]
    if empty:
        warnings.warn(
            f"{place}[{column.name!r}] has categories without cells: {empty[:5]}"
            + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
            + ". They are registered as known values although no cell trains them; drop "
            "them first with adata.obs[key] = adata.obs[key].cat.remove_unused_categories().",
            UserWarning,
            stacklevel=4,
        )
