"""Property tests: any input either works or raises a clear error, and the input is untouched.

Hypothesis draws AnnData of varied shapes, storage formats, dtypes, category sets, NaN/inf
placements and empty groups, and queries for a trained model and a baseline.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import numpy as np
import pandas as pd
from anndata import AnnData
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy import sparse

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.baselines import MeanShiftBaseline
from helpers import gen_adata, trained_model

CLEAR_ERRORS = (ValueError, TypeError, KeyError, FloatingPointError)
FORMATS = ("dense", "csr", "csc")
PROPERTIES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@st.composite
def anndatas(draw, n_genes: int | None = None) -> AnnData:
    """Small AnnData with drawn shape, format, dtype, labels and non-finite values."""
    n_cells = draw(st.integers(1, 40))
    n_genes = n_genes or draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = np.log1p(rng.poisson(2.0, (n_cells, n_genes))).astype(
        draw(st.sampled_from([np.float32, np.float64]))
    )
    n_bad = draw(st.integers(0, 2))
    for _ in range(n_bad):
        values[rng.integers(n_cells), rng.integers(n_genes)] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    fmt = draw(st.sampled_from(FORMATS))
    x = values if fmt == "dense" else getattr(sparse, f"{fmt}_matrix")(values)
    labels = draw(
        st.lists(st.sampled_from(["control", "IFNB", "TNF", "IFNB+TNF"]), min_size=1, max_size=4)
    )
    condition = pd.Categorical(
        rng.choice(labels, n_cells),
        categories=sorted(set(labels) | set(draw(st.sets(st.sampled_from(["IL4", "IL6"]))))),
    )
    cell_type = pd.Categorical(rng.choice(["T", "B", "NK"][: draw(st.integers(1, 3))], n_cells))
    obs = pd.DataFrame(
        {"condition": condition, "cell_type": cell_type},
        index=[f"c{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    return AnnData(x, obs=obs, var=var)


def fingerprint(adata: AnnData) -> tuple:
    """What the user owns: expression, their obs columns, layers and obsm."""

    def dense(matrix) -> np.ndarray:
        return matrix.toarray() if sparse.issparse(matrix) else np.array(matrix)

    obs = adata.obs[[c for c in adata.obs.columns if not c.startswith("_scvi")]].copy()
    layers = {k: dense(v) for k, v in adata.layers.items()}
    return dense(adata.X), obs, layers, set(adata.obsm)


def assert_same(before: tuple, after: tuple) -> None:
    np.testing.assert_array_equal(before[0], after[0])
    pd.testing.assert_frame_equal(before[1], after[1])
    assert before[2].keys() == after[2].keys()
    for key in before[2]:
        np.testing.assert_array_equal(before[2][key], after[2][key])
    assert before[3] == after[3]


@contextlib.contextmanager
def quiet():
    """Warnings are allowed (errors are what these tests judge): keep them quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.cache
def reference_model() -> CaLMFlowPerturb:
    return trained_model(max_epochs=1)


@functools.cache
def reference_baseline() -> MeanShiftBaseline:
    adata = gen_adata()
    return MeanShiftBaseline(adata, "condition", "control", cell_type_key="cell_type").train()


@PROPERTIES
@given(adata=anndatas())
def test_setup_works_or_raises_clearly_and_keeps_the_data(adata):
    before = fingerprint(adata)
    try:
        with quiet():
            CaLMFlowPerturb.setup_anndata(
                adata,
                perturbation_key="condition",
                control_value="control",
                cell_type_key="cell_type",
            )
    except CLEAR_ERRORS as err:
        assert str(err), "an error must say what is wrong"
        assert "_scvi_perturbation" not in adata.obs  # nothing registered
        event(f"refused: {type(err).__name__}")
    else:
        event("registered")
    assert_same(before, fingerprint(adata))


def assert_predicts_or_refuses(query: AnnData, var_names, predict) -> None:
    """``predict(query)`` gives finite cells or a clear error, and leaves ``query`` as it was."""
    query.var_names = var_names
    query.obs["cell_type"] = pd.Categorical(
        np.resize(np.array(["T cell", "B cell", "monocyte"]), query.n_obs)
    )
    before = fingerprint(query)
    try:
        with quiet():
            result = predict(query)
    except CLEAR_ERRORS as err:
        assert str(err)
        event(f"refused: {type(err).__name__}")
    else:
        assert np.isfinite(result.X).all() and result.n_obs == query.n_obs
        event("predicted")
    assert_same(before, fingerprint(query))


@PROPERTIES
@given(query=anndatas(n_genes=40))
def test_predict_works_or_raises_clearly_and_keeps_the_query(query):
    model = reference_model()
    assert_predicts_or_refuses(
        query,
        model.var_names_,
        lambda q: model.predict(q, perturbation="IFNB", inplace=False, seed=1),
    )


@PROPERTIES
@given(query=anndatas(n_genes=40))
def test_baseline_predict_works_or_raises_clearly_and_keeps_the_query(query):
    baseline = reference_baseline()
    assert_predicts_or_refuses(
        query, baseline.var_names, lambda q: baseline.predict(q, "IFNB", inplace=False)
    )
