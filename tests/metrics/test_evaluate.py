from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.decomposition import PCA

from calmflow_sc.metrics import (
    de_overlap,
    energy_distance,
    evaluate,
    mean_expression_scores,
    mmd_rbf,
    sinkhorn_divergence,
    wasserstein,
)

N_GENES = 40


def _adata(x, seed):
    adata = ad.AnnData(x.astype(np.float32))
    adata.var_names = [f"g{i}" for i in range(x.shape[1])]
    adata.obs_names = [f"c{seed}_{i}" for i in range(x.shape[0])]
    return adata


@pytest.fixture
def trio():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.5, 2.0, size=N_GENES)
    effect = np.zeros(N_GENES)
    effect[:8] = rng.uniform(1.0, 2.0, size=8)
    control = np.clip(base + rng.normal(scale=0.3, size=(60, N_GENES)), 0, None)
    real = np.clip(base + effect + rng.normal(scale=0.3, size=(50, N_GENES)), 0, None)
    pred = np.clip(base + 0.8 * effect + rng.normal(scale=0.3, size=(45, N_GENES)), 0, None)
    return _adata(pred, 0), _adata(real, 1), _adata(control, 2)


EXPECTED_METRICS = [
    "energy_distance",
    "energy_distance_squared",
    "mmd",
    "wasserstein2",
    "sinkhorn",
    "r2_all",
    "pearson_delta_all",
    "mse_all",
    "mae_all",
    "r2_top5",
    "pearson_delta_top5",
    "r2_top20",
    "pearson_delta_top20",
    "de_overlap_top8",
]


def test_returns_documented_rows(trio):
    pred, real, control = trio
    table = evaluate(pred, real, control, top_k=(5, 20), de_k=(8,))
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["group", "metric", "value"]
    assert set(table["group"]) == {"all"}
    assert table["metric"].tolist() == EXPECTED_METRICS
    assert table["value"].dtype == np.float64
    assert table["value"].notna().all()
    values = table.set_index("metric")["value"]
    assert values["energy_distance"] > 0
    assert values["mmd"] > 0
    assert values["wasserstein2"] > 0
    assert values["sinkhorn"] > 0
    assert 0.5 < values["pearson_delta_all"] <= 1
    # the prediction moves the same 8 genes as the truth
    assert values["de_overlap_top8"] >= 0.75


def test_values_match_the_functions(trio):
    pred, real, control = trio
    values = evaluate(pred, real, control, top_k=(5,), n_comps=10, de_k=(40,))
    values = values.set_index("metric")["value"]
    pca = PCA(n_components=10).fit(np.vstack([real.X, control.X]).astype(np.float64))
    emb_pred = pca.transform(pred.X.astype(np.float64))
    emb_real = pca.transform(real.X.astype(np.float64))
    assert values["energy_distance"] == pytest.approx(energy_distance(emb_pred, emb_real))
    assert values["energy_distance_squared"] == pytest.approx(
        energy_distance(emb_pred, emb_real, squared=True)
    )
    assert values["mmd"] == pytest.approx(mmd_rbf(emb_pred, emb_real))
    assert values["wasserstein2"] == pytest.approx(wasserstein(emb_pred, emb_real))
    assert values["sinkhorn"] == pytest.approx(sinkhorn_divergence(emb_pred, emb_real))
    assert values["de_overlap_top40"] == pytest.approx(de_overlap(pred.X, real.X, control.X, 40))
    top = mean_expression_scores(pred.X, real.X, control.X, top_k=5)
    assert values["r2_top5"] == pytest.approx(top["r2"])
    assert values["pearson_delta_top5"] == pytest.approx(top["pearson_delta"])


def test_perfect_prediction(trio):
    _, real, control = trio
    values = evaluate(real.copy(), real, control, top_k=(5,), de_k=(10,))
    values = values.set_index("metric")["value"]
    assert values["energy_distance"] == pytest.approx(0.0, abs=1e-9)
    assert values["energy_distance_squared"] == pytest.approx(0.0, abs=1e-9)
    assert values["mmd"] == pytest.approx(0.0, abs=1e-9)
    assert values["wasserstein2"] == pytest.approx(0.0, abs=1e-6)
    assert values["de_overlap_top10"] == pytest.approx(1.0)
    for name in ("r2_all", "pearson_delta_all", "r2_top5", "pearson_delta_top5"):
        assert values[name] == pytest.approx(1.0)


def test_prediction_closer_to_truth_scores_better(trio):
    pred, real, control = trio
    good = evaluate(pred, real, control, top_k=(5,), de_k=(10,)).set_index("metric")["value"]
    bad = evaluate(control, real, control, top_k=(5,), de_k=(10,)).set_index("metric")["value"]
    assert good["energy_distance"] < bad["energy_distance"]
    assert good["mmd"] < bad["mmd"]
    assert good["pearson_delta_all"] > 0.9
    # the control cells themselves predict a zero change: the delta correlation is undefined
    assert np.isnan(bad["pearson_delta_all"])


def test_layer_and_obsm(trio):
    pred, real, control = trio
    expected = evaluate(pred, real, control, top_k=(5,), de_k=(10,))
    rng = np.random.default_rng(1)
    for adata in (pred, real, control):
        adata.layers["lognorm"] = sparse.csr_matrix(adata.X)
        adata.X = rng.normal(size=adata.shape).astype(np.float32)  # must be ignored
        adata.obsm["X_emb"] = np.asarray(adata.layers["lognorm"][:, :3].toarray())
    with_layer = evaluate(pred, real, control, layer="lognorm", top_k=(5,), de_k=(10,))
    pd.testing.assert_frame_equal(with_layer, expected, rtol=1e-6)

    with_obsm = evaluate(pred, real, control, layer="lognorm", obsm="X_emb", top_k=(5,), de_k=(10,))
    values = with_obsm.set_index("metric")["value"]
    assert values["energy_distance"] == pytest.approx(
        energy_distance(pred.obsm["X_emb"], real.obsm["X_emb"])
    )
    assert values["r2_all"] == pytest.approx(expected.set_index("metric")["value"]["r2_all"])


def test_errors(trio):
    pred, real, control = trio
    other = pred.copy()
    other.var_names = [f"h{i}" for i in range(N_GENES)]
    with pytest.raises(ValueError, match="var_names"):
        evaluate(other, real, control)
    with pytest.raises(ValueError, match="Layer"):
        evaluate(pred, real, control, layer="missing")
    with pytest.raises(ValueError, match="X_emb"):
        evaluate(pred, real, control, obsm="X_emb")
    with pytest.raises(ValueError, match="between 1 and"):
        evaluate(pred, real, control, top_k=(N_GENES + 1,), de_k=())


def test_groupby_scores_each_group(trio):
    pred, real, control = trio
    shifted = real.copy()
    shifted.X = shifted.X + 3.0  # a second group, far from the prediction
    shifted.obs_names = [f"s{i}" for i in range(shifted.n_obs)]
    both_real = ad.concat([real, shifted])
    both_real.obs["perturbation"] = ["near"] * real.n_obs + ["far"] * shifted.n_obs
    both_pred = ad.concat([pred, pred.copy()], index_unique="-")
    both_pred.obs["perturbation"] = ["near"] * pred.n_obs + ["far"] * pred.n_obs
    table = evaluate(both_pred, both_real, control, top_k=(5,), de_k=(10,), groupby="perturbation")
    assert sorted(set(table["group"])) == ["far", "near"]
    energy = table[table["metric"] == "energy_distance"].set_index("group")["value"]
    assert energy["far"] > energy["near"]
    alone = evaluate(pred, real, control, top_k=(5,), de_k=(10,)).set_index("metric")["value"]
    near = table[table["group"] == "near"].set_index("metric")["value"]
    assert near["mmd"] == pytest.approx(alone["mmd"])
    with pytest.raises(ValueError, match="share no value"):
        evaluate(
            both_pred[both_pred.obs["perturbation"] == "near"],
            both_real[both_real.obs["perturbation"] == "far"],
            control,
            groupby="perturbation",
            top_k=(5,),
            de_k=(10,),
        )


def test_evaluate_reads_the_prediction_layer(trio):
    pred, real, control = trio
    expected = evaluate(pred, real, control, transport=False, de_k=(), top_k=(5,))
    query = pred.copy()  # cells predicted in place: X is theirs, the prediction a layer
    query.layers["calmflow"] = pred.X.copy()
    query.X = control.X[: pred.n_obs].copy()
    unread = evaluate(query, real, control, transport=False, de_k=(), top_k=(5,))
    assert not np.allclose(unread["value"], expected["value"])  # X: the controls themselves
    explicit = evaluate(
        query, real, control, pred_layer="calmflow", transport=False, de_k=(), top_k=(5,)
    )
    np.testing.assert_allclose(explicit["value"], expected["value"])
    query.uns["calmflow_params"] = {"perturbation": "IFNB"}  # as predict records it
    recorded = evaluate(query, real, control, transport=False, de_k=(), top_k=(5,))
    np.testing.assert_allclose(recorded["value"], expected["value"])


def test_evaluate_refuses_predictions_and_observations_on_different_scales(trio):
    pred, real, control = trio
    counts = real.copy()
    counts.X = np.round(np.expm1(counts.X) * 40)
    with pytest.raises(ValueError, match=r"different scales: .*real.X holds raw counts"):
        evaluate(pred, counts, control, transport=False, de_k=(), top_k=(5,))
