from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from anndata import AnnData

import calmflow_sc as cfs
from calmflow_sc.tl import interaction_scores


@pytest.fixture(scope="module")
def singles():
    rng = np.random.default_rng(0)
    a = np.zeros(500)
    b = np.zeros(500)
    a[:40] = rng.normal(0, 1, 40)
    b[30:70] = rng.normal(0, 1, 40)
    return a, b


@pytest.mark.parametrize(
    ("pair_effect", "label"),
    [
        (lambda a, b, r: a + b, "additive"),
        (lambda a, b, r: 1.8 * (a + b), "synergistic"),
        (lambda a, b, r: 0.4 * (a + b), "buffering"),
        (lambda a, b, r: a + 0.1 * b, "first dominant"),
        (lambda a, b, r: 0.1 * a + b, "second dominant"),
        (lambda a, b, r: r, "neomorphic"),
    ],
)
def test_each_kind_of_interaction_is_called(singles, pair_effect, label):
    a, b = singles
    other = np.zeros(500)
    other[100:160] = np.random.default_rng(1).normal(0, 1, 60)
    effects = {"A": a, "B": b, "A+B": pair_effect(a, b, other)}
    table = interaction_scores(effects)
    assert table["label"].tolist() == [label]
    if label == "additive":
        row = table.iloc[0]
        assert row["coef_first"] == pytest.approx(1) and row["coef_second"] == pytest.approx(1)
        assert row["fit"] == pytest.approx(1) and row["magnitude"] == pytest.approx(np.sqrt(2))


def test_simulated_pairs_fit_their_singles_and_leave_the_known_interaction():
    adata = cfs.datasets.simulated()
    table = cfs.tl.interactions(adata, perturbation_key="condition", n_top_genes=None)
    assert set(table["pair"]) == {"IFNB+TNF", "IFNB+IL4"}
    assert (table["fit"] > 0.8).all() and (table["label"] != "neomorphic").all()
    assert "calmflow_interactions" in adata.uns
    ax = cfs.pl.interactions(adata, show=False)  # reads the table the tool stored
    drawn = np.concatenate([points.get_offsets() for points in ax.collections[:-1]])
    np.testing.assert_allclose(
        np.sort(drawn, axis=0), np.sort(table[["coef_first", "coef_second"]].to_numpy(), axis=0)
    )
    effects = cfs.tl._interactions._mean_changes(adata, "condition", "control", None)
    truth = adata.uns["simulation"]
    for _, row in table.iterrows():
        residual = (
            effects[row["pair"]]
            - row["coef_first"] * effects[row["first"]]
            - row["coef_second"] * effects[row["second"]]
        )
        known = np.zeros(len(residual), bool)
        known[np.asarray(truth["interaction_genes"][row["pair"]])] = True
        # what the singles do not explain sits on the genes with the simulated interaction
        assert np.abs(residual[known]).mean() > 2 * np.abs(residual[~known]).mean()


def test_interactions_plot_and_errors(singles):
    a, b = singles
    table = interaction_scores({"A": a, "B": b, "A+B": a + b, "C": b, "A+C": 2 * a})
    ax = cfs.pl.interactions(table, show=False)
    assert ax.get_xlabel().startswith("coefficient")
    with pytest.raises(KeyError, match=r"tl\.interactions\(adata\)"):
        cfs.pl.interactions(AnnData(np.zeros((2, 2))), show=False)
    with pytest.raises(KeyError, match="both singles"):
        interaction_scores({"A": a, "A+B": a}, pairs=["A+B"])
    with pytest.raises(KeyError, match=r"tl\.interactions"):
        cfs.pl.interactions(table.drop(columns="label"), show=False)
