"""The frictions of a first afternoon with a CRISPR screen (issue 24), each reproduced."""

from __future__ import annotations

import numpy as np
import pytest

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.baselines import MeanShiftBaseline
from helpers import gen_adata


@pytest.fixture
def screen():
    """A screen's labels: knock-outs, 'non-targeting' controls, a replicate column."""
    adata = gen_adata(n_cells=120)
    guides = np.array([f"KO_{i}" for i in range(14)] + ["non-targeting"])
    adata.obs["guide"] = guides[np.arange(adata.n_obs) % len(guides)]
    adata.obs["bio_rep"] = np.where(np.arange(adata.n_obs) % 2, "rep1", "rep2")
    return adata


@pytest.mark.parametrize("control_value", ["control", "Non-targeting"])
def test_a_wrong_control_value_names_the_likely_controls(screen, control_value):
    with pytest.raises(ValueError) as caught:
        CaLMFlowPerturb.setup_anndata(screen, perturbation_key="guide", control_value=control_value)
    message = str(caught.value)
    assert "Values that look like controls: 'non-targeting'" in message
    assert "15 distinct values in 120 cells" in message
    if control_value == "Non-targeting":
        assert "Did you mean 'non-targeting'?" in message


def test_a_single_covariate_key_is_one_column_not_its_letters(screen):
    CaLMFlowPerturb.setup_anndata(
        screen, perturbation_key="guide", control_value="non-targeting", covariate_keys="bio_rep"
    )
    model = CaLMFlowPerturb(screen, n_layers=1, hidden_size=16, n_heads=2, n_components=4)
    assert model.get_setup_arg("covariate_keys") == ["bio_rep"]
    MeanShiftBaseline.setup_anndata(
        screen, perturbation_key="guide", control_value="non-targeting", covariate_keys="bio_rep"
    )


@pytest.mark.parametrize(
    ("arguments", "hint"),
    [
        ({"perturbation_key": "guides"}, "Did you mean 'guide'?"),
        ({"perturbation_key": "guide", "cell_type_key": "celltype"}, "Did you mean 'cell_type'?"),
        ({"perturbation_key": "guide", "covariate_keys": "bio_reps"}, "Did you mean 'bio_rep'?"),
        ({"perturbation_key": "guide", "layer": "count"}, "Did you mean 'counts'?"),
    ],
)
def test_a_mistyped_key_gets_the_closest_names(screen, arguments, hint):
    screen.layers["counts"] = screen.X.copy()
    with pytest.raises(KeyError, match=hint):
        CaLMFlowPerturb.setup_anndata(screen, control_value="non-targeting", **arguments)


def test_a_mistyped_perturbation_gets_the_closest_names(screen):
    MeanShiftBaseline.setup_anndata(screen, perturbation_key="guide", control_value="non-targeting")
    baseline = MeanShiftBaseline(screen).train()
    query = screen[screen.obs["guide"] == "non-targeting"].copy()
    with pytest.raises(ValueError, match="Did you mean 'KO_3'"):
        baseline.predict(query, "ko_3")
