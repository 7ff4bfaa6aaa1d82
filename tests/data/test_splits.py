from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from calmflow_sc.data import (
    heldout_cell_type_splits,
    heldout_combination_splits,
    heldout_component_splits,
)
from helpers import gen_adata


def test_heldout_cell_type_splits():
    adata = gen_adata()
    splits = heldout_cell_type_splits(adata, "condition", "control", "cell_type")
    assert [split.name for split in splits] == sorted(adata.obs["cell_type"].unique())
    obs = adata.obs.astype(str)
    for split in splits:
        assert np.intersect1d(split.train, split.test).size == 0
        assert np.union1d(split.train, split.test).size == adata.n_obs
        held = obs.iloc[split.test]
        assert set(held["cell_type"]) == {split.name}
        assert "control" not in set(held["condition"])
        assert split.perturbations == ("IFNB", "TNF")
        query = obs.iloc[split.query]
        assert set(query["cell_type"]) == {split.name} and set(query["condition"]) == {"control"}
        assert np.isin(split.query, split.train).all()
        # every other cell type keeps its perturbed cells
        kept = obs.iloc[split.train]
        assert (kept["cell_type"] != split.name).sum() == (obs["cell_type"] != split.name).sum()
    again = heldout_cell_type_splits(adata, "condition", "control", "cell_type")
    for a, b in zip(splits, again, strict=True):
        np.testing.assert_array_equal(a.test, b.test)


def _pairs_adata() -> ad.AnnData:
    conditions = ["control", "A", "B", "C", "A+B", "A+C", "B+C", "A+Z", "ctrl+A"]
    obs = pd.DataFrame({"condition": np.repeat(conditions, 4)})
    obs.index = [f"c{i}" for i in range(len(obs))]
    return ad.AnnData(np.ones((len(obs), 3), dtype=np.float32), obs=obs)


def test_heldout_combination_splits_one_per_pair():
    adata = _pairs_adata()
    splits = heldout_combination_splits(adata, "condition", "control")
    # A+Z has an unseen single; ctrl+A is no combination of perturbations
    assert [split.name for split in splits] == ["A+B", "A+C", "B+C"]
    conditions = adata.obs["condition"].to_numpy()
    for split in splits:
        assert set(conditions[split.test]) == {split.name}
        assert set(conditions[split.query]) == {"control"}
        for single in split.name.split("+"):
            assert single in set(conditions[split.train])


def test_heldout_combination_folds_partition_the_pairs():
    adata = _pairs_adata()
    folds = heldout_combination_splits(adata, "condition", "control", n_folds=2, seed=3)
    assert [fold.name for fold in folds] == ["fold0", "fold1"]
    held = [p for fold in folds for p in fold.perturbations]
    assert sorted(held) == ["A+B", "A+C", "B+C"]
    again = heldout_combination_splits(adata, "condition", "control", n_folds=2, seed=3)
    assert [f.perturbations for f in folds] == [f.perturbations for f in again]
    with pytest.raises(ValueError, match="n_folds"):
        heldout_combination_splits(adata, "condition", "control", n_folds=4)


def test_split_errors():
    adata = _pairs_adata()
    with pytest.raises(ValueError, match="No control cells"):
        heldout_combination_splits(adata, "condition", "ctrl")
    with pytest.raises(KeyError, match="cell_type"):
        heldout_cell_type_splits(adata, "condition", "control", "cell_type")
    singles = adata[~adata.obs["condition"].str.contains(r"\+")].copy()
    with pytest.raises(ValueError, match="No combination"):
        heldout_combination_splits(singles, "condition", "control")


def test_heldout_component_splits_remove_every_cell_with_the_gene():
    adata = gen_adata(n_cells=300, conditions=("control", "A", "B", "C", "A+B", "B+C"))
    splits = heldout_component_splits(adata, "condition", "control")
    assert [split.name for split in splits] == ["A", "B", "C"]
    labels = adata.obs["condition"].astype(str).to_numpy()
    for split in splits:
        gene = split.name
        trained = labels[split.train]
        assert not any(gene in label.split("+") for label in trained)
        assert set(labels[split.test]) == {gene}
        assert set(labels[split.query]) == {"control"}
        assert split.perturbations == (gene,)
    assert "A+B" in set(labels[splits[2].train])  # holding out C keeps A+B
    with pytest.raises(ValueError, match="not measured alone"):
        heldout_component_splits(adata, "condition", "control", components=["A+B"])


def test_heldout_component_splits_can_test_the_combinations_with_the_gene():
    adata = gen_adata(n_cells=300, conditions=("control", "A", "B", "C", "A+B", "B+C"))
    splits = heldout_component_splits(adata, "condition", "control", include_combinations=True)
    labels = adata.obs["condition"].astype(str).to_numpy()
    by_name = {split.name: split for split in splits}
    assert by_name["B"].perturbations == ("B", "A+B", "B+C")
    assert set(labels[by_name["B"].test]) == {"B", "A+B", "B+C"}
    assert by_name["C"].perturbations == ("C", "B+C")
    for split in splits:  # the training set is the same as without the combinations
        assert not any(split.name in label.split("+") for label in labels[split.train])
        assert not set(split.test) & set(split.train)
