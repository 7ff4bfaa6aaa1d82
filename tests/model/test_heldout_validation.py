"""Training validated by held-out conditions: ``train(validation=...)`` and ``refit``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scvi

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.train import HELDOUT_MONITOR, HeldOutConditionScore, RestoreBestWeights
from helpers import TINY_MODEL, gen_adata, setup

CONDITIONS = ("control", "IFNB", "TNF", "IFNB+TNF")


@pytest.fixture(scope="module")
def adata():
    data = gen_adata(n_cells=600, conditions=CONDITIONS)
    setup(data)
    return data


def _train(adata, **kwargs) -> CaLMFlowPerturb:
    scvi.settings.seed = 0
    model = CaLMFlowPerturb(adata, prompt_encoder="components", **TINY_MODEL)
    kwargs.setdefault("max_epochs", 3)
    model.train(accelerator="cpu", enable_progress_bar=False, **kwargs)
    return model


def _cells_of(adata, frame: pd.DataFrame) -> np.ndarray:
    keys = ["condition", "cell_type"]
    pairs = set(map(tuple, frame[keys].astype(str).to_numpy()))
    return np.flatnonzero([tuple(x) in pairs for x in adata.obs[keys].astype(str).to_numpy()])


@pytest.fixture(scope="module")
def validated(adata):
    return _train(adata, validation="conditions")


def test_held_out_conditions_are_listed_never_trained_on_and_decide_the_weights(adata, validated):
    held = validated.history["heldout_conditions"]
    assert set(held["kind"]) <= {"combination", "context"} and len(held) >= 1
    assert (held["n_cells"] >= 20).all()
    left_out = _cells_of(adata, held)
    assert len(left_out) == held["n_cells"].sum()
    trained = np.r_[validated.train_indices_, validated.validation_indices_]
    assert not np.isin(left_out, trained).any()
    scores = validated.history[HELDOUT_MONITOR][HELDOUT_MONITOR].to_numpy(float)
    assert len(scores) == 3 and np.isfinite(scores).all()
    restore = next(c for c in validated.trainer.callbacks if isinstance(c, RestoreBestWeights))
    assert restore.monitor == HELDOUT_MONITOR
    assert restore.best_epoch == int(np.argmin(scores)) == held["best_epoch"].iloc[0]


def test_the_score_depends_on_the_weights_only(validated):
    score = next(c for c in validated.trainer.callbacks if isinstance(c, HeldOutConditionScore))
    first = score.score(validated.module)
    assert first == score.score(validated.module)  # same cells and noise each time
    for parameter in validated.module.head.parameters():
        parameter.data.add_(1.0)
    try:
        assert score.score(validated.module) != first
    finally:
        for parameter in validated.module.head.parameters():
            parameter.data.sub_(1.0)


def test_refit_trains_on_every_condition_for_the_chosen_epochs(adata):
    model = _train(adata, validation="conditions", refit=True)
    selection = model.history["selection_heldout_conditions"]
    left_out = _cells_of(adata, selection)
    assert np.isin(left_out, np.r_[model.train_indices_, model.validation_indices_]).all()
    assert len(model.history["elbo_train"]) == selection["best_epoch"].iloc[0] + 1
    assert HELDOUT_MONITOR not in model.history  # the refit validates on cells
    assert len(model.history[f"selection_{HELDOUT_MONITOR}"]) == 3


def test_named_conditions_are_held_out(adata):
    named = pd.DataFrame({"condition": ["TNF"], "cell_type": ["B cell"]})
    model = _train(adata, validation=named, max_epochs=2)
    held = model.history["heldout_conditions"]
    assert held[["condition", "cell_type", "kind"]].values.tolist() == [["TNF", "B cell", "given"]]
    trained = np.r_[model.train_indices_, model.validation_indices_]
    assert not np.isin(_cells_of(adata, named), trained).any()


def test_bad_validation_arguments_name_the_fix(adata):
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    with pytest.raises(ValueError, match=r"'cells'.*'conditions'"):
        model.train(max_epochs=1, validation="types")
    with pytest.raises(KeyError, match="cell_type"):
        model.train(max_epochs=1, validation=pd.DataFrame({"condition": ["TNF"]}))
    unknown = pd.DataFrame({"condition": ["IL4"], "cell_type": ["B cell"]})
    with pytest.raises(ValueError, match="IL4"):
        model.train(max_epochs=1, validation=unknown)
    with pytest.raises(ValueError, match="resume"):
        model.train(max_epochs=1, validation="conditions", resume=True, checkpoint_dir="x")


def test_without_conditions_to_hold_out_it_validates_on_cells():
    data = gen_adata(n_cells=200, cell_types=("PBMC",), conditions=("control", "IFNB"))
    setup(data)
    with pytest.warns(UserWarning, match="no condition to hold out"):
        model = _train(data, validation="conditions", max_epochs=2)
    assert "heldout_conditions" not in model.history
    restore = next(c for c in model.trainer.callbacks if isinstance(c, RestoreBestWeights))
    assert restore.monitor == "elbo_validation"


def test_the_held_out_conditions_are_saved_with_the_history(adata, validated, tmp_path):
    validated.save(tmp_path / "model")
    loaded = CaLMFlowPerturb.load(tmp_path / "model", adata=adata)
    pd.testing.assert_frame_equal(
        loaded.history["heldout_conditions"],
        validated.history["heldout_conditions"],
        check_dtype=False,
    )
