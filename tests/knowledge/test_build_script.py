"""The shipped tables are what ``scripts/build_knowledge.py`` builds."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calmflow_sc import knowledge

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "src" / "calmflow_sc" / "knowledge" / "data"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location(
        "build_knowledge", ROOT / "scripts" / "build_knowledge.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GENES = [  # _id, symbol, name, type
    (1, "KA", "kinase A", "protein-coding"),
    (2, "KB", "kinase B", "protein-coding"),
    (3, "TF", "transcription factor", "protein-coding"),
    (4, "PS", "pseudogene", "pseudo"),
    (5, "LONE", "unannotated", "protein-coding"),
    (6, "TF2", "transcription factor 2", "protein-coding"),
]
#: propagated annotations: the kinases share a rare term, all genes the root
BP_ALL = [
    (1, "GO:1"),
    (2, "GO:1"),
    (1, "GO:9"),
    (2, "GO:9"),
    (3, "GO:9"),
    (3, "GO:3"),
    (3, "GO:4"),
    (4, "GO:1"),
    (1, "GO:5"),
    (6, "GO:3"),
]
BP = [(1, "GO:1"), (2, "GO:1"), (3, "GO:3"), (1, "GO:5")]
TERMS = [
    ("GO:1", "kinase cascade"),
    ("GO:9", "biological process"),
    ("GO:3", "transcription"),
    ("GO:4", "chromatin"),
    ("GO:5", "unique process"),
]


def _org_db(path: Path) -> Path:
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE gene_info (_id INTEGER, gene_name TEXT, symbol TEXT);"
        "CREATE TABLE genetype (_id INTEGER, gene_type TEXT);"
        "CREATE TABLE alias (_id INTEGER, alias_symbol TEXT);"
        "CREATE TABLE metadata (name TEXT, value TEXT);"
        + "".join(
            f"CREATE TABLE go_{o}{s} (_id INTEGER, go_id TEXT, evidence TEXT);"
            for o in ("bp", "mf", "cc")
            for s in ("", "_all")
        )
    )
    db.executemany("INSERT INTO gene_info VALUES (?, ?, ?)", [(i, n, s) for i, s, n, _ in GENES])
    db.executemany("INSERT INTO genetype VALUES (?, ?)", [(i, t) for i, _, _, t in GENES])
    db.executemany(
        "INSERT INTO alias VALUES (?, ?)",
        [(1, "KA"), (1, "MEKA"), (2, "SHARED"), (3, "SHARED"), (2, "TF")],
    )
    db.executemany("INSERT INTO go_bp_all VALUES (?, ?, 'IDA')", BP_ALL)
    db.executemany("INSERT INTO go_bp VALUES (?, ?, 'IDA')", BP)
    db.execute("INSERT INTO go_bp_all VALUES (5, 'GO:9', 'ND')")
    db.execute("INSERT INTO metadata VALUES ('EGSOURCEDATE', 'test')")
    db.commit()
    return path


def _sources(tmp: Path) -> dict[str, Path]:
    go = sqlite3.connect(tmp / "GO.sqlite")
    go.executescript(
        "CREATE TABLE go_term (go_id TEXT, term TEXT); CREATE TABLE metadata (name TEXT, value TEXT);"
    )
    go.executemany("INSERT INTO go_term VALUES (?, ?)", TERMS)
    go.commit()
    wheel = tmp / "famplex-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(
            "famplex/resources/relations.csv",
            "HGNC,KA,isa,FPLX,KIN\nHGNC,KB,isa,FPLX,KIN\nFPLX,KIN,isa,FPLX,ENZ\n"
            "HGNC,TF,partof,FPLX,CPLX\nUP,P1,isa,FPLX,KIN\n",
        )
    return {"org": _org_db(tmp / "org.sqlite"), "go": tmp / "GO.sqlite", "famplex": wheel}


def test_build_on_tiny_databases(script, tmp_path):
    out = script.build(_sources(tmp_path), tmp_path / "out")
    with np.load(out_path := tmp_path / "out" / "go_embeddings.npz") as arrays:
        symbols, values = arrays["symbols"].tolist(), arrays["values"].astype(np.float64)
    assert out_path.exists()
    # the pseudogene and the gene with only an ND annotation have no embedding
    assert symbols == ["KA", "KB", "TF", "TF2"]
    np.testing.assert_allclose(np.linalg.norm(values, axis=1), 1.0, atol=2e-3)
    assert values[0] @ values[1] > values[0] @ values[2]
    text = pd.read_csv(tmp_path / "out" / "gene_descriptions.csv.gz").set_index("symbol")
    # most specific first: GO:5 is on one gene, GO:1 on two
    assert (
        text.loc["KA", "description"] == "KA (kinase A). Processes: unique process; kinase cascade."
    )
    aliases = pd.read_csv(tmp_path / "out" / "aliases.csv.gz")
    # an alias of two genes, an alias that is a symbol and a symbol itself are dropped
    assert aliases.to_dict("list") == {"alias": ["MEKA"], "symbol": ["KA"]}
    families = pd.read_csv(tmp_path / "out" / "families.csv.gz")
    assert families.to_dict("list") == {
        "gene": ["KA", "KA", "KB", "KB", "TF"],
        "family": ["ENZ", "KIN", "ENZ", "KIN", "CPLX"],
        "relation": ["within", "isa", "within", "isa", "partof"],
    }
    assert out["files"]["go_embeddings.npz"]["shape"] == [4, values.shape[1]]


def test_build_is_byte_for_byte_reproducible(script, tmp_path):
    sources = _sources(tmp_path)
    first = script.build(sources, tmp_path / "a")
    second = script.build(sources, tmp_path / "b")
    assert first == second


def test_information_content_ranks_rare_terms_higher(script):
    ann = pd.DataFrame({"_id": [1, 2, 1], "go_id": ["GO:1", "GO:1", "GO:2"]})
    ic = script.information_content(ann, n_genes=2)
    assert ic["GO:2"] > ic["GO:1"] == pytest.approx(0.0)


def test_shipped_files_match_the_manifest():
    manifest = knowledge.manifest()
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == entry["sha256"], name
    assert (
        list(knowledge.gene_embeddings().shape) == manifest["files"]["go_embeddings.npz"]["shape"]
    )
    assert [len(knowledge.gene_descriptions()), 2] == manifest["files"]["gene_descriptions.csv.gz"][
        "shape"
    ]
    provenance = (DATA / "PROVENANCE.md").read_text()
    for name, entry in manifest["files"].items():
        assert entry["sha256"] in provenance, f"PROVENANCE.md does not record {name}'s hash"


def test_shipped_data_is_small():
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 8 * 2**20


@pytest.mark.slow
def test_full_rebuild_matches_the_shipped_tables(script, tmp_path):
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("the rebuild downloads Debian packages with apt-get")
    script.build(script.fetch_sources(tmp_path / "sources"), tmp_path / "out")
    for name in ("gene_descriptions.csv.gz", "aliases.csv.gz", "families.csv.gz"):
        assert (tmp_path / "out" / name).read_bytes() == (DATA / name).read_bytes(), name
    with (
        np.load(tmp_path / "out" / "go_embeddings.npz") as new,
        np.load(DATA / "go_embeddings.npz") as old,
    ):
        assert new["symbols"].tolist() == old["symbols"].tolist()
        # the SVD may differ in the last bits between BLAS builds
        cosine = (new["values"].astype(np.float64) * old["values"].astype(np.float64)).sum(axis=1)
        assert np.quantile(cosine, 0.01) > 0.99
