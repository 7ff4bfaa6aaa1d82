"""Doses: parsing, one per component, and the check of a dose column."""

from __future__ import annotations

import pandas as pd
import pytest

from calmflow_sc.data import (
    PromptBuilder,
    check_dose_column,
    component_doses,
    dose_of_components,
    parse_doses,
)


def test_a_dose_is_a_number_or_one_number_per_component():
    assert parse_doses(10) == (10.0,)
    assert parse_doses("10+2.5") == (10.0, 2.5)
    assert component_doses(["A", "B"], 3) == [3.0, 3.0]
    assert component_doses(["A", "B"], "1+2") == [1.0, 2.0]
    assert component_doses([], "1+2") == []  # the control scales nothing
    assert component_doses(["A"], "1+2", strict=False) == [0.0]
    with pytest.raises(ValueError, match="one per component"):
        component_doses(["A"], "1+2")
    for bad in ("high", -1, float("nan"), "1+"):
        with pytest.raises(ValueError, match="finite number"):
            parse_doses(bad)


def test_a_mapping_gives_each_component_its_dose():
    assert dose_of_components(["A", "B"], {"B": 2, "A": 1}) == {"A": 1.0, "B": 2.0}
    with pytest.raises(ValueError, match=r"component\(s\) \['B'\]"):
        dose_of_components(["A", "B"], {"A": 1})


def test_a_dose_column_is_checked_against_each_cells_components():
    perturbations = pd.Series(["control", "A", "A+B"])
    check_dose_column(pd.Series([0, 1, "1+2"], name="dose"), perturbations, "control", "obs")
    with pytest.raises(ValueError, match="missing dose"):
        check_dose_column(pd.Series([None, 1, 2], name="dose"), perturbations, "control", "obs")
    with pytest.raises(ValueError, match="'A'"):
        check_dose_column(pd.Series([0, "1+2", 2], name="dose"), perturbations, "control", "obs")
    with pytest.raises(ValueError, match="finite number"):
        check_dose_column(pd.Series([0, "x", 2], name="dose"), perturbations, "control", "obs")


def test_text_prompts_name_each_components_dose():
    builder = PromptBuilder("condition", "control", dose_key="dose")
    assert builder.condition_keys == ["condition", "dose"]
    frame = pd.DataFrame({"condition": ["A+B", "A", "control"], "dose": ["1+2.5", 10.0, 0]})
    assert builder.render_frame(frame) == [
        "Generate a cell under A at dose 1 and B at dose 2.5: ",
        "Generate a cell under A at dose 10: ",
        "Generate a cell under no perturbation: ",
    ]
    with pytest.raises(KeyError, match="dose"):
        builder.render_frame(frame.drop(columns="dose"))
