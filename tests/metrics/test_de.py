from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.metrics import de_genes, de_overlap, detected_genes


@pytest.fixture
def cells():
    rng = np.random.default_rng(0)
    control = rng.uniform(0.5, 1.5, size=(60, 30))
    real = rng.uniform(0.5, 1.5, size=(50, 30))
    real[:, :5] += 2.0  # genes 0-4 go up
    real[:, 5] -= 0.45  # gene 5 goes down
    other = rng.uniform(0.5, 1.5, size=(50, 30))
    other[:, 10:16] += 2.0
    return real, control, other


def test_de_genes_finds_the_changed_genes(cells):
    real, control, _ = cells
    assert set(de_genes(real, control, 6)) == {str(i) for i in range(6)}
    names = [f"g{i}" for i in range(30)]
    import pandas as pd

    top = de_genes(sparse.csr_matrix(real), control, 5, var_names=pd.Index(names))
    assert set(top) == {f"g{i}" for i in range(5)}


def test_de_overlap(cells):
    real, control, other = cells
    assert de_overlap(real, real, control, k=6) == 1.0
    assert de_overlap(other, real, control, k=6) == 0.0
    half = real.copy()
    half[:, 3:5] -= 2.0  # the prediction misses two of the up genes
    half[:, 10:12] += 2.0  # and moves two others
    assert de_overlap(half, real, control, k=6) == pytest.approx(4 / 6)


def test_k_out_of_range(cells):
    real, control, _ = cells
    with pytest.raises(ValueError, match="between 1 and"):
        de_genes(real, control, 31)


def test_undetected_genes_do_not_enter_the_ranking(cells):
    real, control, _ = cells
    real, control = np.hstack([real, np.zeros((50, 4))]), np.hstack([control, np.zeros((60, 4))])
    # an additive prediction: the true shift plus a tiny constant on genes never detected
    pred = real.copy()
    pred[:, 30:] += 0.01
    assert detected_genes(real, control).sum() == 30
    assert de_overlap(pred, real, control, k=6) == 1.0
    # with every gene compared, the constant shift of the undetected genes wins the ranking
    assert de_overlap(pred, real, control, k=6, min_fraction=0.0) < 1.0


def test_predicting_no_change_cannot_score_on_de_overlap(cells):
    """Controls as the prediction: the ranking of their tests is noise, not a finding."""
    real, control, _ = cells
    rng = np.random.default_rng(3)
    unchanged = control[rng.permutation(len(control))[:50]]
    assert de_overlap(unchanged, real, control, k=6) == 0.0
    assert len(de_genes(unchanged, control, 6, max_pvalue=0.05)) == 0
    assert len(de_genes(unchanged, control, 6)) == 6  # without the threshold, six are named
