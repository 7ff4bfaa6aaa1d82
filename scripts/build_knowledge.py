"""Rebuild the tables that ``calmflow_sc.knowledge`` ships, from offline sources.

Sources (see ``src/calmflow_sc/knowledge/data/PROVENANCE.md``):

- Debian ``r-bioc-org.hs.eg.db`` (``org.Hs.eg.sqlite``: genes, full names, aliases and
  propagated GO annotations; Artistic-2.0),
- Debian ``r-bioc-go.db`` (``GO.sqlite``: GO term names; the Gene Ontology is CC BY 4.0),
- PyPI ``famplex`` (``relations.csv``: genes -> families and complexes; CC0).

Both Debian packages are plain SQLite files inside the ``.deb``; no R is needed. Run::

    python scripts/build_knowledge.py                       # download to a temp dir, build
    python scripts/build_knowledge.py --sources DIR         # keep (or reuse) downloads in DIR
    python scripts/build_knowledge.py --out OTHER_DIR       # write elsewhere (to compare)

Ligand -> receptor pairs (OmniPath via ``liana``) are not shipped: their licences are those
of the many original resources, so ``calmflow_sc.knowledge.ligand_receptors`` reads them on
demand from an installed ``liana`` instead.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import TruncatedSVD

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "calmflow_sc" / "knowledge" / "data"
DEFAULT_SOURCES = Path(tempfile.gettempdir()) / "calmflow_sc_knowledge_sources"
DEBIAN_PACKAGES = ("r-bioc-org.hs.eg.db", "r-bioc-go.db")
PYPI_PACKAGES = ("famplex",)
ONTOLOGIES = ("bp", "mf", "cc")
N_COMPONENTS = 64
MIN_GENES_PER_TERM = 2
#: Terms named in a description, per ontology, most specific (highest information content) first.
DESCRIPTION_TERMS = {"bp": 10, "mf": 3, "cc": 2}
SEED = 0


# -- reading the sources ------------------------------------------------------------------------


def protein_coding_genes(org: sqlite3.Connection) -> pd.DataFrame:
    """Protein-coding genes of ``org.Hs.eg.sqlite``: ``_id`` index, ``symbol`` and ``name``."""
    genes = pd.read_sql_query(
        "SELECT i._id, i.symbol, i.gene_name AS name FROM gene_info i "
        "JOIN genetype t ON t._id = i._id WHERE t.gene_type = 'protein-coding' ORDER BY i._id",
        org,
    ).set_index("_id")
    return genes[~genes["symbol"].duplicated(keep=False)]


def go_annotations(
    org: sqlite3.Connection, ontologies=ONTOLOGIES, propagated: bool = True
) -> pd.DataFrame:
    """Distinct (``_id``, ``go_id``, ``ontology``) GO annotations, without ``ND`` evidence.

    ``propagated`` reads the ``go_*_all`` tables (every ancestor of an annotated term too),
    otherwise the direct annotations ``go_*``.
    """
    suffix = "_all" if propagated else ""
    frames = [
        pd.read_sql_query(
            f"SELECT DISTINCT _id, go_id, '{ont.upper()}' AS ontology FROM go_{ont}{suffix} "
            "WHERE evidence != 'ND'",
            org,
        )
        for ont in ontologies
    ]
    return pd.concat(frames, ignore_index=True).drop_duplicates(["_id", "go_id"])


def go_term_names(go: sqlite3.Connection) -> pd.Series:
    """GO term names by GO id."""
    terms = pd.read_sql_query("SELECT go_id, term FROM go_term", go)
    return terms.set_index("go_id")["term"]


def gene_aliases(org: sqlite3.Connection, genes: pd.DataFrame) -> pd.DataFrame:
    """Aliases that name exactly one of ``genes`` and are no gene's official symbol."""
    alias = pd.read_sql_query("SELECT _id, alias_symbol AS alias FROM alias", org)
    alias = alias[alias["_id"].isin(genes.index)].drop_duplicates()
    alias["symbol"] = genes.loc[alias["_id"], "symbol"].to_numpy()
    all_symbols = set(pd.read_sql_query("SELECT symbol FROM gene_info", org)["symbol"])
    alias = alias[~alias["alias"].isin(all_symbols)]
    alias = alias[~alias["alias"].duplicated(keep=False)]
    return alias[["alias", "symbol"]].sort_values("alias").reset_index(drop=True)


def famplex_relations(wheel: Path) -> str:
    """The text of ``famplex/resources/relations.csv`` inside a FamPlex wheel."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("famplex/resources/relations.csv")]
        return archive.read(name).decode()


# -- transformations (pure; unit-tested on tiny tables) -----------------------------------------


def information_content(annotations: pd.DataFrame, n_genes: int) -> pd.Series:
    """``-log(fraction of genes annotated)`` of every GO term in ``annotations``."""
    counts = annotations.groupby("go_id")["_id"].nunique()
    return -np.log(counts / n_genes)


def go_embedding(
    annotations: pd.DataFrame,
    genes: pd.DataFrame,
    n_components: int = N_COMPONENTS,
    min_genes: int = MIN_GENES_PER_TERM,
    seed: int = SEED,
) -> pd.DataFrame:
    """TF-IDF weighted gene x GO-term matrix reduced by truncated SVD, rows of unit length.

    A term's weight is its inverse document frequency ``log(n_genes / n_genes_with_term)``, so
    that broad terms (and genes annotated with many of them) do not dominate; each gene's row
    is scaled to unit length before the SVD, and its embedding after it. Terms on fewer than
    ``min_genes`` genes carry no similarity and are dropped; genes left without a weighted
    term too.
    """
    ann = annotations[annotations["_id"].isin(genes.index)]
    counts = ann.groupby("go_id")["_id"].nunique()
    kept_terms = np.sort(counts.index[counts >= min_genes].to_numpy())
    ann = ann[ann["go_id"].isin(kept_terms)]
    gene_ids = np.sort(ann["_id"].unique())
    rows = np.searchsorted(gene_ids, ann["_id"].to_numpy())
    cols = np.searchsorted(kept_terms, ann["go_id"].to_numpy())
    idf = np.log(len(gene_ids) / counts.loc[kept_terms].to_numpy())
    matrix = sparse.csr_matrix(
        (idf[cols], (rows, cols)), shape=(len(gene_ids), len(kept_terms)), dtype=np.float64
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1))).ravel()
    # a gene with only terms on every gene has a zero row: nothing to place it by
    gene_ids, matrix, norms = gene_ids[norms > 0], matrix[norms > 0], norms[norms > 0]
    matrix = sparse.diags(1.0 / norms) @ matrix
    n_components = min(n_components, min(matrix.shape) - 1)
    svd = TruncatedSVD(
        n_components=n_components, algorithm="randomized", n_iter=10, random_state=seed
    )
    values = svd.fit_transform(matrix)
    values /= np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-12)
    symbols = genes.loc[gene_ids, "symbol"].to_numpy()
    frame = pd.DataFrame(values, index=pd.Index(symbols, name="symbol"))
    frame.columns = [f"go_{i}" for i in range(frame.shape[1])]
    return frame.sort_index()


def gene_descriptions(
    annotations: pd.DataFrame,
    genes: pd.DataFrame,
    term_names: pd.Series,
    ic: pd.Series,
    n_terms: dict[str, int] = DESCRIPTION_TERMS,
) -> pd.Series:
    """A sentence per gene: its full name and its most specific GO terms' names.

    Terms are ranked by information content (ties by GO id), per ontology.
    """
    ann = annotations[annotations["_id"].isin(genes.index) & annotations["go_id"].isin(ic.index)]
    ann = ann.assign(
        ic=ic.loc[ann["go_id"]].to_numpy(), term=term_names.reindex(ann["go_id"]).to_numpy()
    )
    ann = ann.dropna(subset=["term"]).sort_values(
        ["_id", "ontology", "ic", "go_id"], ascending=[True, True, False, True]
    )
    labels = {"BP": "Processes", "MF": "Functions", "CC": "Location"}
    parts: dict[int, list[str]] = {}
    for (gene_id, ontology), group in ann.groupby(["_id", "ontology"], sort=True):
        top = group["term"].head(n_terms.get(ontology.lower(), 0)).tolist()
        if top:
            parts.setdefault(gene_id, []).append(
                (ontology, f"{labels[ontology]}: {'; '.join(top)}.")
            )
    text = {}
    for gene_id, row in genes.iterrows():
        ordered = [p for o in ("BP", "MF", "CC") for q, p in parts.get(gene_id, []) if q == o]
        text[row["symbol"]] = " ".join([f"{row['symbol']} ({row['name']}).", *ordered])
    return pd.Series(text, name="description").rename_axis("symbol").sort_index()


def family_table(relations_csv: str, symbols) -> pd.DataFrame:
    """Gene -> FamPlex family or complex, transitively (a family within a family counts too)."""
    rel = pd.read_csv(
        io.StringIO(relations_csv), header=None, names=["ns1", "id1", "relation", "ns2", "id2"]
    )
    rel = rel[rel["ns2"] == "FPLX"]
    parents = rel[rel["ns1"] == "FPLX"].groupby("id1")["id2"].apply(list).to_dict()
    direct = rel[(rel["ns1"] == "HGNC") & rel["id1"].isin(set(symbols))]
    rows = set()
    for gene, family, relation in direct[["id1", "id2", "relation"]].itertuples(index=False):
        stack, seen = [family], set()
        while stack:
            fam = stack.pop()
            if fam in seen:
                continue
            seen.add(fam)
            rows.add((gene, fam, relation if fam == family else "within"))
            stack.extend(parents.get(fam, []))
    frame = pd.DataFrame(sorted(rows), columns=["gene", "family", "relation"])
    return frame.drop_duplicates(["gene", "family"]).reset_index(drop=True)


# -- downloads and output -----------------------------------------------------------------------


def fetch_sources(workdir: Path) -> dict[str, Path]:
    """Download the Debian and PyPI packages into ``workdir`` (skipped where present)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if not list(workdir.glob("r-bioc-org.hs.eg.db_*.deb")):
        subprocess.run(["apt-get", "update"], check=True, capture_output=True)
        subprocess.run(["apt-get", "download", *DEBIAN_PACKAGES], cwd=workdir, check=True)
    if not list(workdir.glob("famplex-*.whl")):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "-d",
                str(workdir),
                *PYPI_PACKAGES,
            ],
            check=True,
        )
    for deb in workdir.glob("*.deb"):
        target = workdir / "ext" / deb.stem
        if not target.exists():
            target.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    found = {
        "org": next(
            workdir.glob("ext/*/usr/lib/R/site-library/org.Hs.eg.db/extdata/org.Hs.eg.sqlite")
        ),
        "go": next(workdir.glob("ext/*/usr/lib/R/site-library/GO.db/extdata/GO.sqlite")),
        "famplex": next(workdir.glob("famplex-*.whl")),
    }
    found.update({f"{k}_package": v for k, v in _package_files(workdir).items()})
    return found


def _package_files(workdir: Path) -> dict[str, Path]:
    return {
        "org": next(workdir.glob("r-bioc-org.hs.eg.db_*.deb")),
        "go": next(workdir.glob("r-bioc-go.db_*.deb")),
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez_compressed`` with fixed zip timestamps, so equal arrays give equal bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())


def _write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    # mtime=0 keeps the gzip bytes a function of the table alone
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        handle.write(frame.to_csv(index=False, lineterminator="\n").encode())


def build(sources: dict[str, Path], out: Path) -> dict:
    """Build every table from ``sources`` into ``out``; return the manifest written there."""
    out.mkdir(parents=True, exist_ok=True)
    org, go = sqlite3.connect(sources["org"]), sqlite3.connect(sources["go"])
    genes = protein_coding_genes(org)
    annotations = go_annotations(org)
    annotations = annotations[annotations["_id"].isin(genes.index)]
    annotated = genes.loc[np.sort(annotations["_id"].unique())]
    ic = information_content(annotations, len(annotated))
    embedding = go_embedding(annotations, annotated)
    direct = go_annotations(org, propagated=False)
    descriptions = gene_descriptions(direct, annotated, go_term_names(go), ic)
    aliases = gene_aliases(org, genes)
    families = family_table(famplex_relations(sources["famplex"]), genes["symbol"])
    write_npz(
        out / "go_embeddings.npz",
        symbols=embedding.index.to_numpy().astype(str),
        values=embedding.to_numpy().astype(np.float16),
    )
    _write_csv_gz(descriptions.reset_index(), out / "gene_descriptions.csv.gz")
    _write_csv_gz(aliases, out / "aliases.csv.gz")
    _write_csv_gz(families, out / "families.csv.gz")
    meta = dict(org.execute("SELECT name, value FROM metadata").fetchall())
    shapes = {
        "go_embeddings.npz": list(embedding.shape),
        "gene_descriptions.csv.gz": [len(descriptions), 2],
        "aliases.csv.gz": list(aliases.shape),
        "families.csv.gz": list(families.shape),
    }
    manifest = {
        "files": {
            name: {"sha256": _sha256(out / name), "shape": shape} for name, shape in shapes.items()
        },
        "parameters": {
            "n_components": N_COMPONENTS,
            "min_genes_per_term": MIN_GENES_PER_TERM,
            "description_terms": DESCRIPTION_TERMS,
            "seed": SEED,
            "ontologies": list(ONTOLOGIES),
            "weighting": "tf-idf (binary tf)",
        },
        "sources": {
            "org.Hs.eg.db": {
                "file": sources.get("org_package", sources["org"]).name,
                "entrez_gene_date": meta.get("EGSOURCEDATE"),
                "go_date": meta.get("GOSOURCEDATE"),
                "licence": "Artistic-2.0",
            },
            "GO.db": {
                "file": sources.get("go_package", sources["go"]).name,
                "go_date": dict(go.execute("SELECT name, value FROM metadata")).get("GOSOURCEDATE"),
                "licence": "Artistic-2.0 (package); Gene Ontology data CC BY 4.0",
            },
            "famplex": {"file": sources["famplex"].name, "licence": "CC0-1.0"},
        },
        "counts": {
            "protein_coding_genes": len(genes),
            "annotated_genes": len(annotated),
            "go_terms": int(annotations["go_id"].nunique()),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out / "PROVENANCE.md").write_text(provenance_text(manifest))
    return manifest


def provenance_text(manifest: dict) -> str:
    """``PROVENANCE.md``: the sources, their versions, dates and licences, and the files."""
    src = manifest["sources"]
    rows = "\n".join(
        f"| `{name}` | {' x '.join(map(str, entry['shape']))} | `{entry['sha256']}` |"
        for name, entry in sorted(manifest["files"].items())
    )
    return f"""# Provenance of the shipped knowledge tables

Written by `scripts/build_knowledge.py` (do not edit by hand); rebuild them with

    python scripts/build_knowledge.py

from the repository root. It downloads the sources below (`apt-get download`, `pip download
--no-deps`), reads the SQLite files inside the Debian packages with Python's `sqlite3` (no
R) and FamPlex's `relations.csv` inside its wheel, and writes this folder.

## Sources

| Source | File | Data dates | Licence |
| --- | --- | --- | --- |
| Bioconductor `org.Hs.eg.db` (Debian `r-bioc-org.hs.eg.db`) | `{src["org.Hs.eg.db"]["file"]}` | Entrez Gene {src["org.Hs.eg.db"]["entrez_gene_date"]}, GO {src["org.Hs.eg.db"]["go_date"]} | {src["org.Hs.eg.db"]["licence"]} |
| Bioconductor `GO.db` (Debian `r-bioc-go.db`) | `{src["GO.db"]["file"]}` | GO {src["GO.db"]["go_date"]} | {src["GO.db"]["licence"]} |
| FamPlex (PyPI `famplex`) | `{src["famplex"]["file"]}` | | {src["famplex"]["licence"]} |

The Gene Ontology is © the Gene Ontology Consortium, CC BY 4.0 (http://geneontology.org);
gene data from NCBI Entrez Gene via Bioconductor. Ligand -> receptor pairs (OmniPath, via
PyPI `liana`) are **not** shipped: OmniPath's pairs carry the licences of their many original
resources, so `calmflow_sc.knowledge.ligand_receptors` reads them from the user's `liana`.

## Files

| File | Shape | SHA-256 |
| --- | --- | --- |
{rows}

- `go_embeddings.npz`: `symbols` and `values` (float16): protein-coding genes with a GO
  annotation (evidence other than ND) x {manifest["parameters"]["n_components"]} dimensions. The
  gene x term matrix of propagated BP, MF and CC annotations (terms on at least
  {manifest["parameters"]["min_genes_per_term"]} genes) is weighted by TF-IDF, rows scaled to unit
  length, reduced by truncated SVD (randomized, seed {manifest["parameters"]["seed"]}) and rows
  scaled to unit length again.
- `gene_descriptions.csv.gz`: `symbol`, `description`: full name and the names of the gene's
  directly annotated GO terms of highest information content (`-log` of the fraction of genes
  annotated, propagated), at most {manifest["parameters"]["description_terms"]} per ontology.
- `aliases.csv.gz`: `alias`, `symbol`: aliases of exactly one protein-coding gene that are no
  gene's official symbol.
- `families.csv.gz`: `gene`, `family`, `relation` (`isa`, `partof`, or `within` for a family
  that contains the gene's family).
- `manifest.json`: the same facts, read by the tests.
"""


def main(argv: list[str] | None = None) -> None:
    """Command line: download (or reuse) the sources and write the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sources",
        type=Path,
        default=DEFAULT_SOURCES,
        help="folder for the downloaded packages (reused when present)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the tables")
    args = parser.parse_args(argv)
    manifest = build(fetch_sources(args.sources), args.out)
    print(json.dumps(manifest["files"], indent=2))


if __name__ == "__main__":
    main()
