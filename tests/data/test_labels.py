"""The grammar of perturbation labels: components, order, stripping, empty parts, control."""

from __future__ import annotations

import pytest

from calmflow_sc.data import (
    COMBINATION_SEPARATOR,
    canonical_label,
    component_key,
    format_doses,
    has_empty_component,
    is_combination,
    join_components,
    label_parts,
    parse_doses,
    perturbation_components,
)


def test_separator_is_plus():
    assert COMBINATION_SEPARATOR == "+"


def test_parts_are_stripped_and_keep_order_and_empties():
    assert label_parts(" TNF + IFNB ") == ["TNF", "IFNB"]
    assert label_parts("A+") == ["A", ""]
    assert label_parts("A|B", separator="|") == ["A", "B"]


def test_components_drop_control_and_empty_parts():
    assert perturbation_components("control", "control") == []
    assert perturbation_components("TNF+IFNB", "control") == ["TNF", "IFNB"]
    assert perturbation_components("A + control", "control") == ["A"]
    assert perturbation_components("A++B", "control") == ["A", "B"]


@pytest.mark.parametrize("label", ["", " ", "A+", "+A", "A++B", "A+ +B"])
def test_empty_components_are_found(label):
    assert has_empty_component(label)


@pytest.mark.parametrize("label", ["A", "A+B", " A + B "])
def test_well_formed_labels_have_no_empty_component(label):
    assert not has_empty_component(label)


def test_combination_and_key():
    assert is_combination("A+B") and not is_combination("A")
    assert component_key("TNF+IFNB") == component_key("IFNB + TNF") == ("IFNB", "TNF")
    assert join_components(["B", "A"]) == "B+A"


def test_canonical_label_prefers_the_registered_spelling():
    registered = ["control", "TNF+IFNB", "IL4"]
    assert canonical_label("IL4", registered) == "IL4"
    assert canonical_label("IFNB+TNF", registered) == "TNF+IFNB"
    assert canonical_label("IFNB + TNF", registered) == "TNF+IFNB"
    # a combination never registered: sorted, one spelling whatever the order
    assert canonical_label("IL4+IFNB", registered) == "IFNB+IL4"
    assert canonical_label("IFNB+IL4", registered) == "IFNB+IL4"


def test_doses_follow_the_grammar():
    assert parse_doses(" 1 + 0.5") == (1.0, 0.5)
    assert format_doses(parse_doses("10.0+2.50")) == "10+2.5"
