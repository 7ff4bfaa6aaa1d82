from __future__ import annotations

import calmflow_sc as cfs


def test_public_api():
    assert cfs.__version__ != "0.0.0"
    assert {"CaLMFlowPerturb", "datasets", "metrics", "baselines"} <= set(cfs.__all__)
    signature = cfs.CaLMFlowPerturb.setup_anndata.__doc__
    for argument in (
        "perturbation_key",
        "control_value",
        "cell_type_key",
        "covariate_keys",
        "layer",
    ):
        assert argument in signature
