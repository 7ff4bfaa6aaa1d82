from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import calmflow_sc as cfs
from atlas_files import write_cinemaot_file
from calmflow_sc.data import CINEMAOT_HELDOUT, cinemaot_splits, heldout_condition_splits


@pytest.fixture(scope="module")
def cinemaot(tmp_path_factory):
    path = write_cinemaot_file(Path(tmp_path_factory.mktemp("cinemaot")) / "cinemaot.h5ad")
    return cfs.datasets.dong2023_cinemaot(path)


def test_the_paper_holds_out_two_exposures_of_every_cell_type():
    assert len(CINEMAOT_HELDOUT) == 14
    assert len({tuple(sorted(c.items())) for c in CINEMAOT_HELDOUT}) == 14
    by_type = {}
    for condition in CINEMAOT_HELDOUT:
        by_type.setdefault(condition["cell_type"], []).append(condition["chronicity"])
    assert len(by_type) == 7
    assert all(sorted(exposures) == ["acute", "chronic"] for exposures in by_type.values())
    # the authors' rotation: perturbations taken two at a time from their list
    assert CINEMAOT_HELDOUT[0] == {
        "cell_type": "Plasma",
        "perturbation": "IL-6",
        "chronicity": "chronic",
    }
    assert CINEMAOT_HELDOUT[-1] == {"cell_type": "B", "perturbation": "IFNg", "chronicity": "acute"}


def test_cinemaot_splits_share_one_training_set_without_the_held_out_cells(cinemaot):
    splits = cinemaot_splits(cinemaot)
    assert len(splits) == 14
    obs = cinemaot.obs.astype(str)
    train = splits[0].train
    held_out = np.concatenate([split.test for split in splits])
    assert all(np.array_equal(split.train, train) for split in splits)
    assert not np.intersect1d(train, held_out).size
    assert len(train) + len(held_out) == cinemaot.n_obs
    for split, condition in zip(splits, CINEMAOT_HELDOUT, strict=True):
        test = obs.iloc[split.test]
        for key, value in condition.items():
            assert (test[key] == value).all(), (split.name, key)
        query = obs.iloc[split.query]
        assert (query["perturbation"] == "control").all()
        assert (query["cell_type"] == condition["cell_type"]).all()
        assert (query["chronicity"] == condition["chronicity"]).all()
        assert split.perturbations == (condition["perturbation"],)
        assert split.name == " | ".join(
            [condition["perturbation"], condition["cell_type"], condition["chronicity"]]
        )
    # every single attribute stays seen in training
    seen = obs.iloc[train]
    for key in ("perturbation", "cell_type", "chronicity"):
        assert set(seen[key]) == set(obs[key])


def test_conditions_without_cells_are_left_out_with_a_warning(cinemaot):
    conditions = [
        {"perturbation": "IFNb", "cell_type": "NK", "chronicity": "acute"},
        {"perturbation": "IFNb", "cell_type": "Neutrophil", "chronicity": "acute"},
    ]
    with pytest.warns(UserWarning, match="Neutrophil | acute has no cells"):
        splits = heldout_condition_splits(
            cinemaot, conditions, context_keys=("cell_type", "chronicity")
        )
    assert [split.name for split in splits] == ["IFNb | NK | acute"]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="None of the held-out"):
        heldout_condition_splits(cinemaot, conditions[1:], context_keys=("cell_type", "chronicity"))


def test_holding_out_every_cell_of_a_value_is_refused(cinemaot):
    perturbations = sorted(set(cinemaot.obs["perturbation"]) - {"control"})
    conditions = [{"perturbation": "IFNb", "cell_type": t} for t in set(cinemaot.obs["cell_type"])]
    with pytest.raises(ValueError, match=r"perturbation value\(s\) \['IFNb'\] with no training"):
        heldout_condition_splits(cinemaot, conditions)
    assert "IFNb" in perturbations


def test_a_condition_must_name_every_context_key(cinemaot):
    with pytest.raises(ValueError, match=r"lacks \['chronicity'\]"):
        heldout_condition_splits(
            cinemaot,
            [{"perturbation": "IFNb", "cell_type": "NK"}],
            context_keys=("cell_type", "chronicity"),
        )
