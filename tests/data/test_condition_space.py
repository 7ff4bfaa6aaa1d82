"""The one owner of conditions: its table, index, lookups from obs and checks."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from calmflow_sc.data import ConditionSpace, PromptBuilder, context_radix

PERTURBATIONS = ["control", "IFNB", "TNF+IFNB"]
CELL_TYPES = ["B", "T", "mono"]
DONORS = ["d1", "d2"]
DOSES = ["0", "1", "1+3"]


def space(cell_types=True, donors=True, doses=True) -> ConditionSpace:
    builder = PromptBuilder(
        perturbation_key="condition",
        control_value="control",
        cell_type_key="cell_type" if cell_types else None,
        covariate_keys=("donor",) if donors else (),
        dose_key="dose" if doses else None,
    )
    return ConditionSpace(
        builder,
        PERTURBATIONS,
        CELL_TYPES if cell_types else None,
        [DONORS] if donors else [],
        DOSES if doses else None,
    )


def test_context_radix_is_mixed_radix():
    np.testing.assert_array_equal(context_radix([3, 2, 4]), [8, 4, 1])
    np.testing.assert_array_equal(context_radix([5]), [1])


def test_context_index_is_mixed_radix():
    builder = PromptBuilder(
        perturbation_key="condition",
        control_value="control",
        cell_type_key="cell_type",
        covariate_keys=("donor", "batch"),
    )
    conditions = ConditionSpace(builder, PERTURBATIONS, CELL_TYPES, [DONORS, list("abcd")])
    codes = np.array([[0, 0, 0], [0, 0, 3], [0, 1, 0], [2, 1, 3]])  # cell types x donors x batch
    np.testing.assert_array_equal(conditions.context_index(codes), [0, 3, 4, 23])


@pytest.mark.parametrize(
    ("cell_types", "donors", "doses"), list(itertools.product([True, False], repeat=3))
)
def test_condition_index_round_trips_through_the_table(cell_types, donors, doses):
    conditions = space(cell_types, donors, doses)
    table = conditions.table()
    assert list(table.columns) == conditions.builder.condition_keys
    assert len(table) == conditions.n_conditions
    assert conditions.n_treatments == len(PERTURBATIONS) * (len(DOSES) if doses else 1)
    # every row: its codes give back its own index
    perturbation = pd.Index(PERTURBATIONS).get_indexer(table["condition"])
    dose = pd.Index(DOSES).get_indexer(table["dose"]) if doses else None
    codes = conditions.context_codes(table).numpy()
    treatments = conditions.treatment_index(perturbation, dose)
    index = conditions.condition_index(treatments, conditions.context_index(codes))
    np.testing.assert_array_equal(index, np.arange(len(table)))


def test_context_codes_of_unregistered_values_are_none():
    conditions = space()
    obs = pd.DataFrame({"condition": ["IFNB"], "cell_type": ["NK"], "donor": ["d1"]})
    assert conditions.context_codes(obs) is None


def test_sizes_without_cell_types_keep_one_cell_type_code():
    conditions = space(cell_types=False)
    assert conditions.context_sizes == [1, 2]
    assert conditions.n_contexts == 2
    obs = pd.DataFrame({"condition": ["IFNB", "IFNB"], "donor": ["d2", "d1"]})
    np.testing.assert_array_equal(conditions.context_codes(obs).numpy(), [[0, 1], [0, 0]])


def test_categories_for_each_column():
    conditions = space()
    assert conditions.categories_for("condition") == PERTURBATIONS
    assert conditions.categories_for("cell_type") == CELL_TYPES
    assert conditions.categories_for("donor") == DONORS
    assert conditions.categories_for("dose") == DOSES
    assert conditions.levels == {"cell_type": CELL_TYPES, "donor": DONORS}


class _Manager:
    """The registry accessors an ``AnnDataManager`` offers, over fixed codes."""

    def __init__(self, registry: dict[str, np.ndarray]):
        self.data_registry = registry

    def get_from_registry(self, key: str) -> np.ndarray:
        return self.data_registry[key]


def test_registered_conditions_are_rows_of_the_table():
    conditions = space()
    table = conditions.table()
    rows = np.array([0, 7, 20, len(table) - 1])
    frame = table.iloc[rows]
    manager = _Manager(
        {
            "perturbation": pd.Index(PERTURBATIONS).get_indexer(frame["condition"])[:, None],
            "dose": pd.Index(DOSES).get_indexer(frame["dose"])[:, None].astype(float),
            "cell_type": pd.Index(CELL_TYPES).get_indexer(frame["cell_type"])[:, None],
            "covariates": pd.Index(DONORS).get_indexer(frame["donor"])[:, None],
        }
    )
    registered = conditions.registered_conditions(manager)
    np.testing.assert_array_equal(registered.conditions, rows)
    np.testing.assert_array_equal(registered.is_control, frame["condition"] == "control")
    np.testing.assert_array_equal(registered.contexts, rows % conditions.n_contexts)


def test_check_perturbation_spells_as_registered():
    conditions = space()
    assert conditions.check_perturbation("IFNB+TNF") == "TNF+IFNB"
    assert conditions.check_perturbation("IL4+IFNB") == "IFNB+IL4"
    with pytest.raises(ValueError, match="empty component"):
        conditions.check_perturbation("IFNB+")
    with pytest.raises(ValueError, match="non-empty string"):
        conditions.check_perturbation(" ")


def test_check_dose_follows_the_asked_order():
    conditions = space()
    assert conditions.check_dose("IFNB+TNF", "TNF+IFNB", "1+3") == "3+1"
    assert conditions.check_dose("IFNB+TNF", "TNF+IFNB", {"IFNB": 2, "TNF": 2}) == "2"
    assert conditions.check_dose("control", "control", None) == "0"
    with pytest.raises(ValueError, match="pass the dose"):
        conditions.check_dose("IFNB", "IFNB", None)
    with pytest.raises(ValueError, match="without a dose_key"):
        space(doses=False).check_dose("IFNB", "IFNB", 1.0)


def test_check_conditions_names_missing_columns_and_warns_on_unseen():
    conditions = space(doses=False)
    with pytest.raises(KeyError, match="donor"):
        conditions.check_conditions(
            pd.DataFrame({"condition": ["IFNB"], "cell_type": ["B"]}), "lm", lambda _: None
        )
    obs = pd.DataFrame({"condition": ["IFNB"], "cell_type": ["NK"], "donor": ["d1"]})
    with pytest.warns(UserWarning, match="never seen in training"):
        conditions.check_conditions(obs, "lm", lambda _: None)
    asked = []
    obs = pd.DataFrame({"condition": ["IL4"], "cell_type": ["B"], "donor": ["d1"]})
    conditions.check_conditions(obs, "components", asked.extend)
    assert asked == ["IL4"]


def test_code_label_sorts_components_with_their_doses():
    conditions = space()
    assert conditions.code_label("TNF+IFNB", None) == "IFNB+TNF"
    assert conditions.code_label("TNF+IFNB", "1+3") == "IFNB x3+TNF x1"


@pytest.mark.parametrize(
    ("cell_types", "donors", "doses"), list(itertools.product([True, False], repeat=3))
)
def test_condition_rows_of_the_table_are_its_rows(cell_types, donors, doses):
    conditions = space(cell_types, donors, doses)
    table = conditions.table()
    np.testing.assert_array_equal(conditions.condition_rows(table), np.arange(len(table)))


def test_condition_rows_of_obs_and_unregistered_values():
    conditions = space()
    obs = pd.DataFrame(
        {
            "condition": ["TNF+IFNB", "IFNB", "IFNB+TNF", "IFNB"],
            "cell_type": ["mono", "B", "B", "NK"],
            "donor": ["d2", "d1", "d1", "d1"],
            "dose": ["1.0+3", 1.0, 1.0, 1.0],
        }
    )
    table = conditions.table()
    first = table.index[
        (table["condition"] == "TNF+IFNB")
        & (table["cell_type"] == "mono")
        & (table["donor"] == "d2")
        & (table["dose"] == "1+3")
    ]
    second = table.index[
        (table["condition"] == "IFNB")
        & (table["cell_type"] == "B")
        & (table["donor"] == "d1")
        & (table["dose"] == "1")
    ]
    rows = conditions.condition_rows(obs)
    np.testing.assert_array_equal(rows, [first[0], second[0], -1, -1])
