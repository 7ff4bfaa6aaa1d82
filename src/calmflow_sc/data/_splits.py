"""Deterministic train / test splits of perturbation data, as index arrays."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from anndata import AnnData

from .._anndata import check_column
from .._docs import doc
from ._labels import COMBINATION_SEPARATOR, is_combination, label_parts


class Split(NamedTuple):
    """One held-out task, as index arrays into the AnnData.

    - ``name``: what is held out (a cell type, a combination, or ``"fold{i}"``);
    - ``train``: the cells to train on;
    - ``test``: the held-out perturbed cells (the truth to predict);
    - ``query``: the control cells to predict from, those of the held-out cells' cell types
      (they stay in ``train``, as controls are seen in practice);
    - ``perturbations``: the perturbations held out.
    """

    name: str
    train: np.ndarray
    test: np.ndarray
    query: np.ndarray
    perturbations: tuple[str, ...]


def _column(adata: AnnData, key: str) -> np.ndarray:
    check_column(adata.obs, key, "key")
    return adata.obs[key].astype(str).to_numpy()


def _controls(perturbation: np.ndarray, control_value: str) -> np.ndarray:
    is_control = perturbation == control_value
    if not is_control.any():
        raise ValueError(
            f"No control cells: no value of the perturbation column equals {control_value!r}. "
            "Pass the value that marks unperturbed cells as control_value."
        )
    return is_control


def _held_out(
    name: str,
    removed: np.ndarray,
    test: np.ndarray,
    is_control: np.ndarray,
    cell_type: np.ndarray | None,
    perturbations: tuple[str, ...],
) -> Split:
    """A split whose ``removed`` cells leave training, ``test`` being the truth to predict.

    The query is the control cells, of the test cells' cell types when cell types are given.
    """
    query = is_control.copy()
    if cell_type is not None:
        query &= np.isin(cell_type, np.unique(cell_type[test]))
    return Split(
        name=name,
        train=np.flatnonzero(~removed),
        test=np.flatnonzero(test),
        query=np.flatnonzero(query),
        perturbations=perturbations,
    )


@doc.dedent
def heldout_cell_type_splits(
    adata: AnnData,
    perturbation_key: str = "condition",
    control_value: str = "control",
    cell_type_key: str = "cell_type",
) -> list[Split]:
    """Leave each cell type's perturbed cells out in turn.

    The classic task of scGen and CPA: a cell type is seen only unperturbed, and its response
    is predicted from its control cells using what the other cell types show.

    Parameters
    ----------
    adata
        Perturbation data.
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s

    Returns
    -------
    One :class:`Split` per cell type that has both control and perturbed cells, in sorted
    order of the cell types.

    Examples
    --------
    >>> for split in heldout_cell_type_splits(adata, "condition", "control", "cell_type"):  # doctest: +SKIP
    ...     train, query, truth = adata[split.train], adata[split.query], adata[split.test]
    """
    perturbation = _column(adata, perturbation_key)
    cell_type = _column(adata, cell_type_key)
    is_control = _controls(perturbation, str(control_value))
    splits = []
    for name in sorted(set(cell_type)):
        of_type = cell_type == name
        test = of_type & ~is_control
        if not test.any() or not (of_type & is_control).any():
            continue
        splits.append(
            Split(
                name=name,
                train=np.flatnonzero(~test),
                test=np.flatnonzero(test),
                query=np.flatnonzero(of_type & is_control),
                perturbations=tuple(sorted(set(perturbation[test]))),
            )
        )
    return splits


@doc.dedent
def heldout_combination_splits(
    adata: AnnData,
    perturbation_key: str = "condition",
    control_value: str = "control",
    cell_type_key: str | None = None,
    n_folds: int | None = None,
    seed: int = 0,
    delimiter: str = COMBINATION_SEPARATOR,
) -> list[Split]:
    """Hold out combinations whose single perturbations are all seen.

    A combination such as ``"A+B"`` qualifies when every component other than
    ``control_value`` occurs on its own in ``adata``. Its cells leave the training set; the
    singles stay.

    Parameters
    ----------
    adata
        Perturbation data.
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s
        The query controls are then those of the held-out cells' types.
    n_folds
        ``None`` holds out each combination alone (one split per combination); an integer
        deals the combinations, shuffled with ``seed``, into that many folds held out together
        (fewer models to train).
    seed
        Seed of the shuffle when ``n_folds`` is given.
    delimiter
        Separator of the components of a combination.

    Returns
    -------
    The splits, one per combination in sorted order or one per fold.

    Raises
    ------
    ValueError
        If no combination qualifies, or ``n_folds`` is not between 1 and their number.
    """
    perturbation = _column(adata, perturbation_key)
    is_control = _controls(perturbation, str(control_value))
    seen = set(perturbation)
    combinations = []
    for name in sorted(seen):
        if not is_combination(name, delimiter):
            continue
        parts = [part for part in label_parts(name, delimiter) if part != str(control_value)]
        if len(parts) > 1 and all(part in seen for part in parts):
            combinations.append(name)
    if not combinations:
        raise ValueError(
            f"No combination (components joined by {delimiter!r}) has all its components "
            "seen alone, so none can be held out."
        )
    if n_folds is None:
        groups = [[name] for name in combinations]
        names = combinations
    else:
        if not 1 <= int(n_folds) <= len(combinations):
            raise ValueError(
                f"n_folds must be between 1 and the {len(combinations)} combinations, "
                f"got {n_folds}."
            )
        shuffled = np.random.default_rng(seed).permutation(combinations)
        groups = [sorted(fold) for fold in np.array_split(shuffled, int(n_folds))]
        names = [f"fold{i}" for i in range(len(groups))]
    cell_type = _column(adata, cell_type_key) if cell_type_key is not None else None
    splits = []
    for name, group in zip(names, groups, strict=True):
        test = np.isin(perturbation, group)
        held_out = tuple(str(g) for g in group)
        splits.append(_held_out(str(name), test, test, is_control, cell_type, held_out))
    return splits


@doc.dedent
def heldout_component_splits(
    adata: AnnData,
    perturbation_key: str = "condition",
    control_value: str = "control",
    cell_type_key: str | None = None,
    components: list[str] | None = None,
    delimiter: str = COMBINATION_SEPARATOR,
    include_combinations: bool = False,
) -> list[Split]:
    """Hold out single perturbations completely: never measured, alone or in a combination.

    For each component ``A`` in turn, every cell whose perturbation contains ``A`` (``"A"``,
    ``"A+B"``, ...) leaves the training set; the test cells are those of ``A`` alone (and,
    with ``include_combinations``, those of its combinations too), predicted from the control
    cells. This is the setting of perturbations never measured, where only
    prior knowledge (a description, an embedding) can tell a model what ``A`` does.

    Parameters
    ----------
    adata
        Perturbation data.
    %(param_perturbation_key)s
    %(param_control_value)s
    %(param_cell_type_key)s
        The query controls are then those of the held-out cells' types.
    components
        Components to hold out; ``None`` for every component measured alone.
    delimiter
        Separator of the components of a combination.
    include_combinations
        Also test the combinations containing ``A`` (e.g. ``"A+B"`` with ``B`` seen alone):
        combinations with one component never measured. They follow ``A`` in
        ``perturbations``, sorted.

    Returns
    -------
    One split per component, named by it, in sorted order.

    Raises
    ------
    ValueError
        If a requested component is not measured alone, or none is.
    """
    control_value = str(control_value)
    perturbation = _column(adata, perturbation_key)
    is_control = _controls(perturbation, control_value)
    singles = sorted(
        {p for p in perturbation if not is_combination(p, delimiter) and p != control_value}
    )
    if components is None:
        components = singles
    unknown = sorted(set(map(str, components)) - set(singles))
    if unknown:
        raise ValueError(
            f"{unknown} are not measured alone in adata.obs[{perturbation_key!r}]; choose among "
            f"{singles[:10]}."
        )
    if not components:
        raise ValueError("No single perturbation is measured alone, so none can be held out.")
    parts = [set(label_parts(p, delimiter)) for p in perturbation]
    cell_type = _column(adata, cell_type_key) if cell_type_key is not None else None
    splits = []
    for component in sorted(map(str, components)):
        contains = np.array([component in p for p in parts])
        test = perturbation == component
        tested = (component,)
        if include_combinations:
            test = contains & ~is_control
            tested += tuple(sorted(set(perturbation[contains]) - {component}))
        splits.append(_held_out(component, contains, test, is_control, cell_type, tested))
    return splits
