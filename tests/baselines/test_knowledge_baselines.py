from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge

from calmflow_sc.baselines import (
    KnowledgeKNNBaseline,
    KnowledgeRidgeBaseline,
    MeanShiftBaseline,
    NearestPerturbationBaseline,
    PerturbedMeanBaseline,
)
from helpers import gen_adata

N_GENES = 20
N_CELLS = 6
DIM = 4


def knowledge_data(n_singles=30, informative=True, seed=0):
    """Seen singles whose exact effects are linear in their embeddings (or unrelated to them).

    Returns the AnnData, the embeddings (seen singles and ``NEW``, never measured) and the
    true effect of every embedded name.
    """
    rng = np.random.default_rng(seed)
    names = [f"G{i}" for i in range(n_singles)]
    embeddings = pd.DataFrame(rng.normal(size=(n_singles + 1, DIM)), index=[*names, "NEW"])
    coefficients = rng.normal(size=(DIM, N_GENES))
    latent = embeddings.to_numpy() if informative else rng.normal(size=embeddings.shape)
    effects = pd.DataFrame(latent @ coefficients, index=embeddings.index)
    control = 20.0 + rng.uniform(-1.0, 1.0, size=(N_CELLS, N_GENES))
    blocks = [control] + [control + effects.loc[name].to_numpy() for name in names]
    conditions = ["control"] * N_CELLS + [name for name in names for _ in range(N_CELLS)]
    adata = ad.AnnData(
        np.vstack(blocks).astype(np.float64),
        obs=pd.DataFrame(
            {"condition": pd.Categorical(conditions)},
            index=[f"cell{i}" for i in range(len(conditions))],
        ),
    )
    adata.var_names = [f"gene{i}" for i in range(N_GENES)]
    return adata, embeddings, effects


def test_ridge_recovers_an_effect_linear_in_knowledge():
    adata, embeddings, effects = knowledge_data()
    ridge = KnowledgeRidgeBaseline(adata, embeddings=embeddings).train()
    truth = effects.loc["NEW"].to_numpy()
    error = np.linalg.norm(ridge.shift("NEW") - truth) / np.linalg.norm(truth)
    floor = effects.iloc[:30].to_numpy().mean(axis=0)  # the perturbed mean
    assert error < 0.05
    assert error < 0.2 * np.linalg.norm(floor - truth) / np.linalg.norm(truth)
    assert ridge.hyperparameters_["shrinkage"] < 0.05
    assert ridge.hyperparameters_["mse"] < 0.01 * ridge.hyperparameters_["mse_perturbed_mean"]
    # a pair with a measured single: the prediction plus the measured effect
    np.testing.assert_allclose(
        ridge.shift("NEW+G1"), ridge.shift("NEW") + effects.loc["G1"].to_numpy(), atol=1e-9
    )
    np.testing.assert_allclose(ridge.shift("G1"), effects.loc["G1"], atol=1e-9)


def test_ridge_leave_one_out_equals_refitting_without_each():
    adata, embeddings, _ = knowledge_data(n_singles=8)
    ridge = KnowledgeRidgeBaseline(adata, embeddings=embeddings).train()
    vectors = embeddings.iloc[:8].to_numpy()
    params = {"ridge_alpha": 0.1}
    loo = ridge._loo_weights(vectors, params)
    scale = ((vectors - vectors.mean(0)) ** 2).sum() / 8
    for i in range(8):
        others = np.delete(np.arange(8), i)
        refit = Ridge(alpha=0.1 * scale).fit(vectors[others], np.eye(8)[others])
        np.testing.assert_allclose(loo[i], refit.predict(vectors[i : i + 1])[0], atol=1e-8)


def test_knn_with_a_twin_embedding_predicts_the_twin_effect():
    adata, embeddings, effects = knowledge_data()
    twin = embeddings.loc["G3"].to_numpy()
    knn = KnowledgeKNNBaseline(
        adata,
        embeddings=pd.concat([embeddings, pd.DataFrame([twin], index=["TWIN"])]),
        n_neighbors=1,
        shrinkage=0.0,
    ).train()
    np.testing.assert_allclose(knn.shift("TWIN"), effects.loc["G3"], atol=1e-9)
    record = knn.support_["TWIN"]
    assert record["predicted"]["TWIN"]["neighbours"][0] == "G3"
    assert record["support"] == pytest.approx(1.0)


@pytest.mark.parametrize("cls", [KnowledgeKNNBaseline, KnowledgeRidgeBaseline])
def test_leave_one_out_shrinks_only_when_knowledge_is_noise(cls):
    informed = cls(knowledge_data(informative=True)[0], embeddings=knowledge_data()[1]).train()
    adata, embeddings, _ = knowledge_data(informative=False)
    noise = cls(adata, embeddings=embeddings).train()
    assert informed.hyperparameters_["shrinkage"] < 0.3
    assert noise.hyperparameters_["shrinkage"] > 0.7
    for baseline in (informed, noise):
        chosen = baseline.hyperparameters_
        assert chosen["mse"] <= chosen["mse_perturbed_mean"] + 1e-12
        assert chosen["mse"] == pytest.approx(baseline.loo_["mse"].min())


def test_knn_beats_the_perturbed_mean_when_knowledge_is_informative():
    adata, embeddings, effects = knowledge_data()
    knn = KnowledgeKNNBaseline(adata, embeddings=embeddings, weighting="power").train()
    truth = effects.loc["NEW"].to_numpy()
    floor = effects.iloc[:30].to_numpy().mean(axis=0)
    assert np.linalg.norm(knn.shift("NEW") - truth) < np.linalg.norm(floor - truth)
    assert set(knn.hyperparameters_) >= {"n_neighbors", "temperature", "shrinkage", "mse"}


@pytest.mark.parametrize("cls", [KnowledgeKNNBaseline, KnowledgeRidgeBaseline])
def test_support_is_lower_for_an_unrelated_component(cls):
    # the seen singles live in the first DIM coordinates; UNRELATED is orthogonal to all
    adata, embeddings, _ = knowledge_data()
    embeddings = embeddings.assign(extra=0.0)
    embeddings.loc["NEAR"] = [*embeddings.loc["G5"].iloc[:DIM] * 1.1, 0.1]
    embeddings.loc["UNRELATED"] = [0.0] * DIM + [1.0]
    baseline = cls(adata, embeddings=embeddings).train()
    baseline.shift("NEAR")
    baseline.shift("UNRELATED+G2")
    near, unrelated = baseline.support_["NEAR"], baseline.support_["UNRELATED+G2"]
    assert near["support"] > 0.9
    assert unrelated["support"] < 0.1 < near["support"]
    assert list(unrelated["observed"]) == ["G2"]
    assert list(unrelated["predicted"]) == ["UNRELATED"]


def test_predict_records_the_support_in_uns(tmp_path):
    adata, embeddings, _ = knowledge_data()
    knn = KnowledgeKNNBaseline(adata, embeddings=embeddings).train()
    query = adata[adata.obs["condition"] == "control"].copy()
    result = knn.predict(query, "NEW+G1", inplace=False)
    record = result.uns["prediction_params"]
    assert record["perturbation"] == "NEW+G1" and record["baseline"] == "KnowledgeKNNBaseline"
    assert 0.0 < record["support"] <= 1.0
    assert record["hyperparameters"]["shrinkage"] == knn.hyperparameters_["shrinkage"]
    knn.predict(query, "NEW", key_added="knn")
    assert query.uns["knn_params"]["predicted"]["NEW"]["neighbours"].size > 0
    query.write_h5ad(tmp_path / "query.h5ad")  # the record is writable
    read = ad.read_h5ad(tmp_path / "query.h5ad")
    assert read.uns["knn_params"]["perturbation"] == "NEW"
    # other baselines record nothing
    MeanShiftBaseline(adata).train().predict(query, "G1", key_added="shift")
    assert "shift_params" not in query.uns


@pytest.mark.parametrize("cls", [KnowledgeKNNBaseline, KnowledgeRidgeBaseline])
def test_components_without_knowledge_are_named_with_close_names(cls):
    adata, embeddings, _ = knowledge_data()
    embeddings.loc["IFNGR2"] = embeddings.loc["NEW"]
    baseline = cls(adata, embeddings=embeddings).train()
    with pytest.raises(ValueError, match=r"'IFGNR2' \(did you mean 'IFNGR2'") as error:
        baseline.shift("G1+IFGNR2+ZZZ")
    assert "'ZZZ'" in str(error.value)
    with pytest.raises(ValueError, match="No knowledge of 'ZZZ'"):
        baseline.shift("ZZZ")


def test_knowledge_baselines_check_their_arguments():
    adata, embeddings, _ = knowledge_data(n_singles=3)
    with pytest.raises(ValueError, match=r"descriptions= .* or embeddings="):
        KnowledgeKNNBaseline(adata)
    with pytest.raises(ValueError, match="shrinkage"):
        KnowledgeRidgeBaseline(adata, embeddings=embeddings, shrinkage=1.5)
    with pytest.raises(ValueError, match="weighting"):
        KnowledgeKNNBaseline(adata, embeddings=embeddings, weighting="gaussian")
    few = adata[adata.obs["condition"].isin(["control", "G0", "G1"])].copy()
    with pytest.warns(UserWarning, match="no knowledge"):
        baseline = KnowledgeKNNBaseline(few, embeddings=embeddings.drop("G1")).train()
    with pytest.raises(ValueError, match="at least 3"):
        baseline.shift("NEW")
    np.testing.assert_allclose(baseline.shift("G0+G1"), baseline.shift("G0") + baseline.shift("G1"))


def test_knowledge_baselines_with_cell_types_match_the_nearest_neighbour():
    adata = gen_adata(n_cells=400, conditions=("control", "IFNB", "TNF", "IL4"))
    embeddings = pd.DataFrame(
        {"x": [1.0, 0.0, 0.0, 0.9], "y": [0.0, 1.0, 0.0, 0.1], "z": [0.0, 0.0, 1.0, 0.0]},
        index=["IFNB", "TNF", "IL4", "IFNA"],
    )
    keys = {"cell_type_key": "cell_type", "embeddings": embeddings}
    knn = KnowledgeKNNBaseline(adata, "condition", "control", n_neighbors=1, shrinkage=0.0, **keys)
    nearest = NearestPerturbationBaseline(adata, "condition", "control", **keys).train()
    knn.train()
    for cell_type in ("B cell", "T cell", "UNSEEN"):
        np.testing.assert_allclose(
            knn.shift("IFNA+TNF", cell_type), nearest.shift("IFNA+TNF", cell_type), atol=1e-9
        )
    query = adata[adata.obs["condition"] == "control"].copy()
    assert np.isfinite(knn.predict(query, "IFNA", inplace=False).X).all()


def test_full_shrinkage_toward_all_is_the_perturbed_mean_baseline():
    adata = gen_adata(n_cells=400, conditions=("control", "IFNB", "TNF", "IL4", "IFNB+TNF"))
    embeddings = pd.DataFrame(np.eye(4), index=["IFNB", "TNF", "IL4", "IFNA"])
    floor = PerturbedMeanBaseline(adata, "condition", "control").train()
    knn = KnowledgeKNNBaseline(
        adata, "condition", "control", embeddings=embeddings, shrinkage=1.0, shrink_toward="all"
    ).train()
    np.testing.assert_allclose(knn.shift("IFNA"), floor.shift("IFNA"), atol=1e-9)
    singles = KnowledgeRidgeBaseline(
        adata, "condition", "control", embeddings=embeddings, shrinkage=1.0
    ).train()
    shifts = [
        MeanShiftBaseline(adata, "condition", "control").train().shift(p)
        for p in ("IFNB", "TNF", "IL4")
    ]
    np.testing.assert_allclose(singles.shift("IFNA"), np.mean(shifts, axis=0), atol=1e-9)
    # leave-one-out leaves out the pairs holding the held-out single too
    loo = KnowledgeKNNBaseline(
        adata, "condition", "control", embeddings=embeddings, shrink_toward="all"
    ).train()
    assert np.isfinite(loo.loo_["mse"]).all()
    with pytest.raises(ValueError, match="shrink_toward"):
        KnowledgeKNNBaseline(adata, embeddings=embeddings, shrink_toward="pairs")


def test_descriptions_are_read_through_minilm(monkeypatch):
    import calmflow_sc.baselines._knowledge as knowledge_module

    adata, embeddings, _ = knowledge_data(n_singles=6)
    seen = {name: embeddings.loc[name].to_numpy() for name in embeddings.index}
    encoded = []

    def encoder(texts):  # stands in for all-MiniLM-L6-v2: the text names the perturbation
        encoded.extend(texts)
        return np.stack([seen[text.partition(":")[0]] for text in texts])

    monkeypatch.setattr(knowledge_module, "load_minilm", lambda: encoder)
    descriptions = {name: f"the gene {name}" for name in embeddings.index}
    ridge = KnowledgeRidgeBaseline(adata, descriptions=descriptions).train()
    assert len(encoded) == 6  # the seen singles, once
    ridge.shift("NEW")
    ridge.shift("NEW+G1")
    assert encoded[-1] == "NEW: the gene NEW" and len(encoded) == 7
    assert ridge.support_["NEW"]["predicted"]["NEW"]["knowledge"] == "description"
