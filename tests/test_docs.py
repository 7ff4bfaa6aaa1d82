from __future__ import annotations

import inspect

import pytest

import calmflow_sc as cfs
from calmflow_sc import _docs


@pytest.mark.parametrize(
    "documented",
    [
        cfs.CaLMFlowPerturb.setup_anndata,
        cfs.baselines.Baseline,
        cfs.baselines.Baseline.setup_anndata,
        cfs.baselines.ControlBaseline,
        cfs.data.heldout_condition_splits,
        cfs.tl.interactions,
    ],
)
def test_shared_parameters_are_substituted(documented):
    text = inspect.getdoc(documented)
    assert "%(" not in text
    documented_names = [
        name
        for name in _docs.doc.params
        if name != "param_adata" and name.removeprefix("param_") + "\n" in text
    ]
    assert documented_names  # each takes some of the shared keys
    for name in documented_names:
        assert _docs.doc.params[name] in text
