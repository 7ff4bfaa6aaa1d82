from __future__ import annotations

import pandas as pd
import pytest

from calmflow_sc.data import PromptBuilder, render_perturbation


def test_combinations_read_as_text():
    assert render_perturbation("IFNB+TNF", "control") == "IFNB and TNF"
    assert render_perturbation("A+B+C", "control") == "A, B and C"
    assert render_perturbation("control", "control") == "no perturbation"
    assert render_perturbation("KLF1+control", "control") == "KLF1"


def test_prompt_names_cell_type_covariates_and_perturbation():
    builder = PromptBuilder("condition", "control", "cell_type", ("donor",))
    frame = pd.DataFrame({"condition": ["IFNB+TNF"], "cell_type": ["B cell"], "donor": ["d2"]})
    (prompt,) = builder.render_frame(frame)
    assert prompt == "Generate a B cell (donor: d2) under IFNB and TNF: "
    with pytest.raises(KeyError, match="donor"):
        builder.render_frame(frame.drop(columns="donor"))


def test_prompt_without_cell_type():
    builder = PromptBuilder("condition", "ctrl")
    assert builder.render("ctrl") == "Generate a cell under no perturbation: "


def test_cell_type_names_read_naturally():
    builder = PromptBuilder("condition", "control", "cell_type")
    assert builder.render("IFNB", "B cells") == "Generate a B cell under IFNB: "
    assert builder.render("IFNB", "T cell") == "Generate a T cell under IFNB: "
    assert builder.render("IFNB", "CD14+Mono") == "Generate a CD14+Mono cell under IFNB: "
