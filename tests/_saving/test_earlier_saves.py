"""Saves written by earlier versions load unchanged and predict as they did.

The saves in ``tests/fixtures/saves/<commit>/`` were written by the code of that commit with
``tests/fixtures/saves/make_saves.py`` (see the README there), with the query and the
predictions that code made; the current code must read them and predict the same numbers.
"""

from __future__ import annotations

import hashlib
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest

from calmflow_sc import CaLMFlowPerturb

SAVES = Path(__file__).parents[1] / "fixtures" / "saves"
#: as in make_saves.py: prediction_<i>.npy is the prediction of PERTURBATIONS[i]
PERTURBATIONS = ("KLF1", "CEBPA+FOXA1")
#: the commits whose saves are kept, and the prompt encoder each used
COMMITS = {"51d020b": "lm", "65bd849": "components"}


def _make_saves():
    """The script that wrote the saves (not a package module: loaded from its path)."""
    spec = importlib.util.spec_from_file_location("make_saves", SAVES / "make_saves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _checksums(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("commit", sorted(COMMITS))
def test_save_of_an_earlier_version_loads_and_predicts_the_same(commit):
    folder = SAVES / commit
    before = _checksums(folder / "model")
    model = CaLMFlowPerturb.load(folder / "model", accelerator="cpu")
    assert model.prompt_encoder == COMMITS[commit]
    make_saves = _make_saves()
    assert make_saves.PERTURBATIONS == PERTURBATIONS
    query = make_saves.query_cells(make_saves.tiny_data())
    for i, perturbation in enumerate(PERTURBATIONS):
        with warnings.catch_warnings():  # an untrained pair is predicted with a warning
            warnings.simplefilter("ignore", UserWarning)
            predicted = model.predict(query, perturbation=perturbation, inplace=False, seed=0)
        expected = np.load(folder / f"prediction_{i}.npy")
        np.testing.assert_array_equal(np.asarray(predicted.X), expected, err_msg=perturbation)
    assert _checksums(folder / "model") == before  # loading wrote nothing


def test_components_save_restores_its_saved_knowledge():
    model = CaLMFlowPerturb.load(SAVES / "65bd849" / "model", accelerator="cpu")
    knowledge = model.module.knowledge
    assert knowledge is not None and model.condition_prompts.knowledge is knowledge
    assert {"KLF1", "CEBPA", "FOXA1"} <= set(knowledge.names)
