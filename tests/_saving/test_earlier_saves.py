"""Saves written by earlier versions load unchanged and predict as they did.

The saves in ``tests/fixtures/saves/<commit>/`` were written by the code of that commit with
``tests/fixtures/saves/make_saves.py`` (see the README there), with the query and the
predictions that code made; the current code must read them and predict the same numbers.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest
from anndata import read_h5ad

from calmflow_sc import CaLMFlowPerturb

SAVES = Path(__file__).parents[1] / "fixtures" / "saves"
#: as in make_saves.py: prediction_<i>.npy is the prediction of PERTURBATIONS[i]
PERTURBATIONS = ("KLF1", "CEBPA+FOXA1")
#: the commits whose saves are kept, and the prompt encoder each used
COMMITS = {"51d020b": "lm", "65bd849": "components"}


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
    query = read_h5ad(folder / "query.h5ad")
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
