"""Checks of user input, run before anything is written into the user's AnnData."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from anndata import AnnData

from .._anndata import check_column, get_expression
from .._expression import check_expression
from .._suggest import did_you_mean, show_values
from ._doses import check_dose_column
from ._labels import component_key, has_empty_component

MIN_TRAINING_CELLS = 16
#: Words that name a control in a perturbation column (compared case-insensitively).
CONTROL_WORDS = frozenset(
    {
        "nt",
        "ntc",
        "ctrl",
        "control",
        "dmso",
        "pbs",
        "unstimulated",
        "untreated",
        "vehicle",
        "mock",
        "unperturbed",
        "nontargeting",
        "safe",
    }
)
#: Phrases that name a control wherever they occur in a value.
CONTROL_PHRASES = ("non-targeting", "non_targeting", "nontargeting", "control", "unstim")


def check_obs_column(adata: AnnData, key: str, argument: str) -> None:
    """Check that an obs column exists and has no missing values."""
    check_column(adata.obs, key, argument)
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
    if (values == str(control_value)).any():
        return
    distinct = list(values.value_counts().index)  # most cells first
    likely = likely_control_values(distinct)
    hint = did_you_mean(control_value, distinct)
    if likely:
        hint += f" Values that look like controls: {show_values(likely)}."
    else:
        hint += f" Values: {show_values(sorted(distinct))}."
    raise ValueError(
        f"control_value={control_value!r} does not occur in {place}[{labels.name!r}] "
        f"({len(distinct)} distinct values in {len(values)} cells).{hint} Pass the value that "
        "marks unperturbed cells, e.g. setup_anndata(..., control_value=...)."
    )


def likely_control_values(values: Sequence[str]) -> list[str]:
    """The values that name a control as screens and treatments usually do, in their order.

    ``"non-targeting"``, ``"NT"``, ``"ctrl"``, ``"control"``, ``"DMSO"``, ``"PBS"``,
    ``"unstimulated"`` ... in any case, alone or as a part of the value
    (``"non-targeting_2"``, ``"ctrl-1"``).

    Parameters
    ----------
    values
        The distinct values of a perturbation column.
    """
    found = []
    for value in values:
        words = set(re.split(r"[^0-9a-z]+", str(value).casefold())) - {""}
        folded = str(value).casefold()
        if words & CONTROL_WORDS or any(phrase in folded for phrase in CONTROL_PHRASES):
            found.append(str(value))
    return found


def align_query_genes(
    adata: AnnData, var_names: Sequence[str], whole_layer: bool
) -> tuple[AnnData, np.ndarray | None]:
    """The query with the training genes in the training order, as scvi-tools' queries are.

    A query with the training genes in another order, or with more genes, is reordered
    (a view, with a warning); one that lacks training genes is refused with their names.

    Parameters
    ----------
    adata
        The query.
    var_names
        The training genes, in order.
    whole_layer
        The output is a layer of ``adata`` itself, which must cover all its genes: a query
        with genes the model does not know is then refused.

    Returns
    -------
    The aligned query and, where the query's genes are the training genes in another
    order, the positions that put a training-order prediction back into the query's order
    (``None`` when the query needed no change or has more genes).
    """
    names = pd.Index(adata.var_names)
    if list(names) == list(var_names):
        return adata, None
    missing = pd.Index(var_names).difference(names)
    if len(missing):
        hints = "".join(did_you_mean(gene, names, n=1) for gene in missing[:3])
        raise ValueError(
            f"The query lacks {len(missing)} of the model's {len(var_names)} training genes "
            f"(e.g. {show_values(missing, 5)}).{hints} Predict on cells measured on the "
            "training genes (model.var_names_); a gene the model was trained on cannot be "
            "left out."
        )
    if not names.is_unique:
        raise ValueError(
            "The query has repeated gene names; make them unique with adata.var_names_make_unique()."
        )
    if adata.isbacked:
        raise ValueError(
            "This backed AnnData has the training genes in another order or with others; it is "
            "read block by block in its own order. Write the training genes in order once: "
            "adata[:, model.var_names_].to_memory().write_h5ad(path)."
        )
    n_extra = len(names) - len(var_names)
    if n_extra and whole_layer:
        raise ValueError(
            f"The query has {n_extra} genes the model was not trained on, and a layer of it "
            "must cover every gene. Predict with inplace=False (an AnnData of the training "
            "genes) or on adata[:, model.var_names_].copy()."
        )
    warnings.warn(
        (
            f"The query has {n_extra} genes the model was not trained on; they are left out"
            if n_extra
            else "The query has the training genes in another order; they are reordered"
        )
        + " for the prediction (model.var_names_).",
        UserWarning,
        stacklevel=3,
    )
    positions = names.get_indexer(pd.Index(var_names))
    back = None if n_extra else np.argsort(positions)
    return adata[:, positions], back


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
