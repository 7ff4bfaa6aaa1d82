"""The house rules of docs/architecture.md, checked on the source tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "calmflow_sc"
SOURCES = sorted(PACKAGE.rglob("*.py"))
#: The one module that splits and joins perturbation labels ("A+B").
LABEL_GRAMMAR = PACKAGE / "data" / "_labels.py"
MAX_LINES = 400

SEPARATOR = r"""(?:"\+"|'\+'|COMBINATION_SEPARATOR|separator|delimiter|sep)"""
LABEL_PARSING = re.compile(rf"\.split\(\s*{SEPARATOR}\s*[,)]|{SEPARATOR}\.join\(")
#: ``from ..package._module import`` in a subpackage, ``from .package._module import`` at the root
PRIVATE_IMPORT = re.compile(
    r"^\s*from \.(?P<up>\.?)(?P<package>\w+)\.(?P<module>_\w+) import", re.M
)


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_rules_see_the_package():
    assert len(SOURCES) > 50
    assert LABEL_GRAMMAR in SOURCES


@pytest.mark.parametrize("path", SOURCES, ids=_relative)
def test_no_source_file_over_400_lines(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{_relative(path)} has {n_lines} lines; split it by concept."


def test_only_the_label_grammar_parses_labels():
    offenders = [
        f"{_relative(path)}:{number}: {line.strip()}"
        for path in [*SOURCES, *sorted((ROOT / "benchmarks").glob("*.py"))]
        if path != LABEL_GRAMMAR
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if LABEL_PARSING.search(line)
    ]
    assert not offenders, "ask calmflow_sc.data's label grammar instead:\n" + "\n".join(offenders)


def test_the_label_check_finds_parsing():
    assert LABEL_PARSING.search('parts = label.split("+")')
    assert LABEL_PARSING.search("COMBINATION_SEPARATOR.join(parts)")
    assert not LABEL_PARSING.search('name.split(":", 1)')


def test_no_context_variables():
    users = [_relative(path) for path in SOURCES if "ContextVar" in path.read_text()]
    assert not users, f"pass arguments instead of ContextVars: {users}"


def test_no_import_of_another_packages_private_module():
    offenders = []
    for path in SOURCES:
        parts = path.relative_to(PACKAGE).parts
        at_root = len(parts) == 1
        for match in PRIVATE_IMPORT.finditer(path.read_text()):
            # from the root, ".package._module" is another package's; from a subpackage,
            # "..package._module" is, unless it names the subpackage itself
            if at_root != bool(match["up"]) and (at_root or match["package"] != parts[0]):
                offenders.append(f"{_relative(path)}: {match.group(0).strip()}")
    assert not offenders, "import from the package instead:\n" + "\n".join(offenders)


def test_the_private_import_check_finds_one():
    assert PRIVATE_IMPORT.search("from ..model._validation import check_setup")
    assert not PRIVATE_IMPORT.search("from ..data import ConditionSpace")
    assert not PRIVATE_IMPORT.search("from .._constants import REGISTRY_KEYS")
    assert PRIVATE_IMPORT.search("    from .train._quiet import LIBRARY_LOGGERS")
