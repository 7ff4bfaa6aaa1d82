"""Choosing the conditions a run holds out to validate on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calmflow_sc.data import perturbation_components
from calmflow_sc.train import choose_heldout_conditions


def _table(labels: list[str], contexts: list[str]) -> pd.DataFrame:
    """Rows in the order of the condition table: treatment-major, context-minor."""
    return pd.DataFrame(
        {
            "condition": np.repeat(labels, len(contexts)),
            "cell_type": np.tile(contexts, len(labels)),
        }
    )


def test_a_single_perturbation_in_several_cell_types_holds_out_one_cell_type():
    table = _table(["control", "IFNB"], ["B", "T", "NK", "Mono"])
    counts = np.array([0, 0, 0, 0, 50, 50, 50, 50])
    chosen = choose_heldout_conditions(table, counts, "condition", "control", 4, seed=0)
    assert chosen.kinds == ("context",)
    assert len(chosen.rows) == 1 and table.loc[chosen.rows[0], "condition"] == "IFNB"


def test_the_last_cell_type_of_a_perturbation_is_never_held_out():
    table = _table(["control", "IFNB"], ["B", "T"])
    counts = np.array([0, 0, 50, 50])
    for seed in range(5):
        chosen = choose_heldout_conditions(
            table, counts, "condition", "control", 2, seed=seed, fraction=1.0
        )
        assert len(chosen.rows) == 1  # one of the two, never both


def test_pairs_need_their_singles_and_components_take_their_pairs_along():
    singles = [f"G{i}" for i in range(8)]
    pairs = ["G0+G1", "G2+G3", "G4+G9"]  # G9 is never measured alone
    table = _table(["control", *singles, "G9", *pairs], ["K562"])
    counts = np.full(len(table), 40)
    counts[table["condition"] == "G9"] = 0
    for seed in range(10):
        chosen = choose_heldout_conditions(table, counts, "condition", "control", 1, seed=seed)
        held = set(table.loc[chosen.rows, "condition"])
        scored = dict(zip(table.loc[chosen.scored, "condition"], chosen.kinds, strict=True))
        assert "G4+G9" not in held or any(scored.get(part) == "component" for part in ("G4", "G9"))
        component = next(name for name, kind in scored.items() if kind == "component")
        holding = [
            x for x in table["condition"] if component in perturbation_components(x, "control")
        ]
        assert set(holding) <= held  # the gene with every condition that holds it
        for name, kind in scored.items():
            if kind == "combination":  # its singles stay measured in training
                assert not set(perturbation_components(name, "control")) & held


def test_nothing_to_hold_out_with_one_condition_or_few_cells():
    table = _table(["control", "IFNB"], ["PBMC"])
    assert choose_heldout_conditions(table, np.array([0, 500]), "condition", "control", 1) is None
    table = _table(["control", "IFNB"], ["B", "T"])
    few = np.array([0, 0, 5, 50])  # B has too few cells to score
    assert choose_heldout_conditions(table, few, "condition", "control", 2) is None


def test_the_choice_follows_the_seed():
    table = _table(["control", "IFNB"], [f"type{i}" for i in range(10)])
    counts = np.r_[np.zeros(10), np.full(10, 30)].astype(int)
    picks = {
        tuple(choose_heldout_conditions(table, counts, "condition", "control", 10, seed=s).rows)
        for s in range(6)
    }
    again = choose_heldout_conditions(table, counts, "condition", "control", 10, seed=3).rows
    assert len(picks) > 1
    assert tuple(again) in picks
    np.testing.assert_array_equal(
        again, choose_heldout_conditions(table, counts, "condition", "control", 10, seed=3).rows
    )
