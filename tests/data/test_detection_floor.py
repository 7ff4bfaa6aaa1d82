"""The lowest detected level of each gene, and rounding values real cells cannot have."""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from calmflow_sc._random import cell_keys
from calmflow_sc.data import PCARepresentation
from calmflow_sc.data._representation import lowest_detected_levels


def _counts(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rng.uniform(0.05, 2.0, size=30), size=(400, 30)).astype(float)
    counts[:, -1] = 0  # never detected
    return np.log1p(counts / np.maximum(counts.sum(1, keepdims=True), 1) * 100)


def test_levels_are_a_low_percentile_of_the_non_zero_values_dense_or_sparse():
    x = _counts()
    levels = lowest_detected_levels(x)
    np.testing.assert_allclose(levels, lowest_detected_levels(sparse.csr_matrix(x)))
    gene = x[:, 3][x[:, 3] > 0]
    assert levels[3] == np.percentile(gene, 10)
    assert levels[-1] == 0.0


def test_small_values_become_zero_or_the_level_keeping_their_mean():
    representation = PCARepresentation(30, 4).fit(_counts())
    floor = representation.detection_floor.numpy()
    gene = int(np.argmax(floor))
    values = np.zeros((20_000, 30), dtype=np.float32)
    values[:, gene] = 0.3 * floor[gene]
    values[:, 0] = floor[0] + 1.0  # above the level: kept
    keys = cell_keys([f"c{i}" for i in range(len(values))], seed=0)
    rounded = representation.keep_zeros(values.copy(), keys)
    assert set(np.unique(rounded[:, gene])) == {0.0, np.float32(floor[gene])}
    assert abs(rounded[:, gene].mean() - 0.3 * floor[gene]) < 0.02 * floor[gene]
    np.testing.assert_array_equal(rounded[:, 0], values[:, 0])
    # each row's draws depend on its key only
    again = representation.keep_zeros(values[::-1].copy(), keys[::-1])
    np.testing.assert_array_equal(again[::-1], rounded)


def test_a_save_without_levels_keeps_dense_values():
    fitted = PCARepresentation(30, 4).fit(_counts())
    state = {k: v for k, v in fitted.state_dict().items() if k != "detection_floor"}
    loaded = PCARepresentation(30, 4)
    loaded.load_state_dict(state)
    assert torch.equal(loaded.detection_floor, torch.zeros(30))
    values = np.full((5, 30), 0.01, dtype=np.float32)
    np.testing.assert_array_equal(loaded.keep_zeros(values.copy(), np.arange(5)), values)
