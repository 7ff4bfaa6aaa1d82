from __future__ import annotations

import inspect
import re
from pathlib import Path

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


INSTALL_PAGES = ("README.md", "docs/installation.md")


def test_install_commands_work_before_a_release():
    """`pip install calmflow-sc` failed: the package is not published; install from a clone."""
    root = Path(__file__).parent.parent
    for page in INSTALL_PAGES:
        text = (root / page).read_text()
        commands = [line for line in text.splitlines() if "pip install" in line]
        assert commands, page
        for command in commands:
            assert not re.search(r"pip install (-U )?calmflow-sc\b", command), (page, command)
        assert "download.pytorch.org/whl/cpu" in text, f"{page} names no CPU build of torch"
        assert "not on PyPI yet" in text or "not published on PyPI yet" in text, page
