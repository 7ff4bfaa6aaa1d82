from __future__ import annotations

import time
from itertools import combinations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from calmflow_sc.datasets import simulated

CONDITIONS = ["control", "IFNB", "TNF", "IL4", "IFNB+TNF", "IFNB+IL4"]
CELL_TYPES = ["T cell", "B cell", "monocyte", "NK cell"]


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    return simulated()


def _group_mean(adata: ad.AnnData, cell_type: str, condition: str) -> np.ndarray:
    mask = (
        (adata.obs["cell_type"] == cell_type) & (adata.obs["condition"] == condition)
    ).to_numpy()
    return np.asarray(adata.X[mask].mean(axis=0)).ravel()


def _observed_change(adata: ad.AnnData, cell_type: str, condition: str) -> np.ndarray:
    return _group_mean(adata, cell_type, condition) - _group_mean(adata, cell_type, "control")


def test_shape_and_obs(adata: ad.AnnData) -> None:
    assert adata.shape == (4 * 6 * 100, 1000)
    assert list(adata.obs.columns[:3]) == ["condition", "cell_type", "donor"]
    for column in ("condition", "cell_type", "donor"):
        assert isinstance(adata.obs[column].dtype, pd.CategoricalDtype)
    assert adata.obs["condition"].cat.categories.tolist() == CONDITIONS
    assert adata.obs["cell_type"].cat.categories.tolist() == CELL_TYPES
    assert adata.obs["donor"].cat.categories.tolist() == ["donor_1", "donor_2"]
    sizes = adata.obs.groupby(["cell_type", "condition"], observed=False).size()
    assert (sizes == 100).all()
    assert len(sizes) == 24
    per_donor = adata.obs.groupby(["cell_type", "condition", "donor"], observed=False).size()
    assert (per_donor == 50).all()
    assert adata.obs_names.is_unique


def test_var_names(adata: ad.AnnData) -> None:
    assert adata.var_names[0] == "gene_0000"
    assert adata.var_names[-1] == "gene_0999"
    assert adata.var_names.is_unique


def test_pairs_present(adata: ad.AnnData) -> None:
    pairs = [c for c in adata.obs["condition"].unique() if "+" in c]
    assert len(pairs) >= 2
    singles = set(adata.uns["simulation"]["perturbations"])
    for pair in pairs:
        assert set(pair.split("+")) <= singles


def test_x_is_sparse_log_normalised(adata: ad.AnnData) -> None:
    x = adata.X
    assert sparse.issparse(x)
    assert x.format == "csr"
    assert x.dtype == np.float32
    assert x.data.min() >= 0
    totals = np.asarray(np.expm1(x.astype(np.float64)).sum(axis=1)).ravel()
    np.testing.assert_allclose(totals, 1e4, rtol=1e-3)
    # Realistic sparsity: many zeros, but not empty.
    density = x.nnz / np.prod(x.shape)
    assert 0.2 < density < 0.9


def test_counts_layer(adata: ad.AnnData) -> None:
    counts = adata.layers["counts"]
    assert sparse.issparse(counts)
    assert np.issubdtype(counts.dtype, np.integer)
    assert counts.data.min() >= 0
    library = np.asarray(counts.sum(axis=1)).ravel()
    assert library.min() > 0
    # Library sizes vary from cell to cell.
    assert library.std() / library.mean() > 0.2
    expected = counts.multiply(1e4 / library[:, None]).tocsr()
    expected.data = np.log1p(expected.data)
    np.testing.assert_allclose(adata.X.toarray(), expected.toarray(), rtol=1e-5, atol=1e-5)


def test_counts_are_overdispersed(adata: ad.AnnData) -> None:
    counts = adata.layers["counts"]
    mask = ((adata.obs["cell_type"] == "T cell") & (adata.obs["condition"] == "control")).to_numpy()
    dense = counts[mask].toarray().astype(np.float64)
    mean = dense.mean(axis=0)
    var = dense.var(axis=0)
    expressed = mean > 1
    assert np.median(var[expressed] / mean[expressed]) > 1.5


def test_deterministic_by_seed() -> None:
    first = simulated(n_cells_per_group=10, n_genes=50, seed=3)
    second = simulated(n_cells_per_group=10, n_genes=50, seed=3)
    other = simulated(n_cells_per_group=10, n_genes=50, seed=4)
    assert (first.layers["counts"] != second.layers["counts"]).nnz == 0
    np.testing.assert_array_equal(first.X.toarray(), second.X.toarray())
    np.testing.assert_array_equal(
        first.uns["simulation"]["effect"], second.uns["simulation"]["effect"]
    )
    assert (first.layers["counts"] != other.layers["counts"]).nnz > 0
    assert not np.array_equal(first.uns["simulation"]["effect"], other.uns["simulation"]["effect"])
    assert first.uns["simulation"]["seed"] == 3


def test_sizes_and_names() -> None:
    small = simulated(n_cells_per_group=7, n_genes=30, n_cell_types=10, seed=1)
    assert small.shape == (10 * 6 * 7, 30)
    names = small.obs["cell_type"].cat.categories.tolist()
    assert names[:4] == CELL_TYPES
    assert names[-1] == "cell type 10"
    assert len(set(names)) == 10
    assert small.uns["simulation"]["effect"].shape == (10, 6, 30)


@pytest.mark.parametrize("argument", ["n_cells_per_group", "n_genes", "n_cell_types"])
def test_invalid_sizes(argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        simulated(**{argument: 0})


def test_ground_truth_record(adata: ad.AnnData) -> None:
    sim = adata.uns["simulation"]
    assert sim["seed"] == 0
    assert sim["params"]["n_cells_per_group"] == 100
    assert sim["params"]["n_genes"] == 1000
    assert list(sim["cell_types"]) == CELL_TYPES
    assert list(sim["conditions"]) == CONDITIONS
    assert list(sim["effect_axes"]) == ["cell_type", "condition", "gene"]
    for key in ("effect", "log_fold_change"):
        assert sim[key].shape == (4, 6, 1000)
        np.testing.assert_array_equal(sim[key][:, 0], 0.0)
        assert np.abs(sim[key][:, 1:]).max() > 1
    # Effects are sparse programmes.
    share_responsive = (sim["effect"][:, 1] != 0).mean()
    assert 0.02 < share_responsive < 0.3


def test_pair_effect_is_sum_plus_interaction(adata: ad.AnnData) -> None:
    sim = adata.uns["simulation"]
    effect = sim["effect"]
    conditions = list(sim["conditions"])
    limit = sim["params"]["max_logfold"]
    for pair in sim["pairs"]:
        first, second = pair.split("+")
        additive = effect[:, conditions.index(first)] + effect[:, conditions.index(second)]
        residual = effect[:, conditions.index(pair)] - additive
        unclipped = np.abs(additive) < limit - 1.0
        interaction_genes = np.zeros(effect.shape[-1], dtype=bool)
        interaction_genes[sim["interaction_genes"][pair]] = True
        # Additive outside the interaction genes, non-additive on them.
        np.testing.assert_allclose(residual[:, ~interaction_genes & unclipped.all(axis=0)], 0.0)
        assert np.abs(residual[:, interaction_genes]).max() > 0.05
        assert 0 < interaction_genes.sum() <= 0.05 * effect.shape[-1]


def test_effects_differ_between_cell_types(adata: ad.AnnData) -> None:
    sim = adata.uns["simulation"]
    effect = sim["effect"]
    for condition in ("IFNB", "TNF", "IL4"):
        c = CONDITIONS.index(condition)
        truth = np.corrcoef(effect[:, c])
        observed = np.corrcoef([_observed_change(adata, t, condition) for t in CELL_TYPES])
        for i, j in combinations(range(len(CELL_TYPES)), 2):
            # Related (shared programme) but not identical responses.
            assert 0.2 < truth[i, j] < 0.97
            assert observed[i, j] < 0.95
    # Cell types respond with different strengths.
    assert np.ptp(sim["cell_type_scale"], axis=0).min() > 0.1


def test_truth_matches_observed_change(adata: ad.AnnData) -> None:
    lfc = adata.uns["simulation"]["log_fold_change"]
    observed, truth, per_group = [], [], []
    for k, cell_type in enumerate(CELL_TYPES):
        expressed = _group_mean(adata, cell_type, "control") > 1.0
        for c, condition in enumerate(CONDITIONS[1:], start=1):
            change = _observed_change(adata, cell_type, condition)[expressed]
            observed.append(change)
            truth.append(lfc[k, c][expressed])
            per_group.append(np.corrcoef(change, lfc[k, c][expressed])[0, 1])
    overall = np.corrcoef(np.concatenate(observed), np.concatenate(truth))[0, 1]
    assert overall > 0.8
    assert np.median(per_group) > 0.8
    assert min(per_group) > 0.5


def test_within_group_heterogeneity(adata: ad.AnnData) -> None:
    sim = adata.uns["simulation"]
    latent = adata.obsm["sim_latent"]
    assert latent.shape == (adata.n_obs, 3)
    assert list(sim["latent_names"]) == ["activation", "cycling", "response_strength"]
    mask = ((adata.obs["cell_type"] == "B cell") & (adata.obs["condition"] == "control")).to_numpy()
    x = adata.X[mask].toarray()
    # Cycling cells express the cycling programme more.
    cycling_genes = sim["cycling_programme"] > 0
    cycling = latent[mask, 1] > 0.5
    assert 0 < cycling.sum() < mask.sum()
    score = x[:, cycling_genes].mean(axis=1)
    assert score[cycling].mean() > score[~cycling].mean() + 0.3
    # The continuous activation state moves its programme.
    loading = sim["activation_loading"]
    activation_score = x @ loading
    assert np.corrcoef(activation_score, latent[mask, 0])[0, 1] > 0.5
    # The per-cell response strength has mean about 1.
    assert abs(latent[:, 2].mean() - 1.0) < 0.05


def test_write_h5ad_round_trip(tmp_path) -> None:
    small = simulated(n_cells_per_group=6, n_genes=40, seed=2)
    target = tmp_path / "simulated.h5ad"
    small.write_h5ad(target)
    back = ad.read_h5ad(target)
    assert back.shape == small.shape
    np.testing.assert_array_equal(back.X.toarray(), small.X.toarray())
    np.testing.assert_array_equal(back.layers["counts"].toarray(), small.layers["counts"].toarray())
    assert back.obs["condition"].cat.categories.tolist() == CONDITIONS
    sim, original = back.uns["simulation"], small.uns["simulation"]
    np.testing.assert_allclose(sim["effect"], original["effect"])
    np.testing.assert_allclose(sim["log_fold_change"], original["log_fold_change"])
    assert list(sim["conditions"]) == CONDITIONS
    assert sim["seed"] == 2
    assert set(sim["interaction"]) == set(original["interaction"])


def test_default_generation_is_fast() -> None:
    start = time.perf_counter()
    simulated()
    assert time.perf_counter() - start < 5.0
