"""Ligand -> receptor genes, read on demand from OmniPath's table in ``liana``.

The pairs are not shipped with calmflow-sc: OmniPath combines many resources whose own
licences apply (some restrict commercial use or ask for share-alike), so the table is read
from the user's copy of ``liana`` instead.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import pandas as pd

RESOURCE_FILE = "resource/omni_resource.csv"


def _installed_liana_resource() -> Path | None:
    spec = importlib.util.find_spec("liana")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / RESOURCE_FILE
    return path if path.is_file() else None


def _read_resource(source: str | Path | None) -> pd.DataFrame:
    path = Path(source) if source is not None else _installed_liana_resource()
    if path is None:
        raise ModuleNotFoundError(
            "Ligand -> receptor pairs are not shipped with calmflow-sc (OmniPath's pairs carry "
            "the licences of their original resources). Install liana (`pip install liana`) "
            "or pass source= the path of liana's resource/omni_resource.csv or of a liana wheel."
        )
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(RESOURCE_FILE)]
            return pd.read_csv(io.BytesIO(archive.read(member)))
    return pd.read_csv(path)


def ligand_receptors(
    source: str | Path | None = None, *, resource: str = "consensus"
) -> dict[str, list[str]]:
    """Receptor genes of each ligand, from OmniPath's ligand-receptor table in ``liana``.

    A receptor complex counts with all its subunits (``IFNB1`` -> ``IFNAR1``, ``IFNAR2``), and
    each subunit of a ligand complex gets the complex's receptors.

    Parameters
    ----------
    source
        ``liana``'s ``resource/omni_resource.csv`` or a ``liana`` wheel; ``None`` reads the
        installed ``liana`` package (without importing it).
    resource
        The table's ``resource`` to read (``"consensus"``: OmniPath's human consensus).

    Returns
    -------
    Sorted receptor gene symbols keyed by ligand gene symbol, for
    :func:`~calmflow_sc.knowledge.perturbation_embeddings`'s ``receptors``.

    Raises
    ------
    ModuleNotFoundError
        Without ``source`` where ``liana`` is not installed.
    """
    table = _read_resource(source)
    table = table[table["resource"] == resource]
    if table.empty:
        raise ValueError(f"The ligand-receptor table has no rows of resource {resource!r}.")
    pairs: dict[str, set[str]] = {}
    for ligand, receptor in table[["source_genesymbol", "target_genesymbol"]].itertuples(
        index=False
    ):
        for gene in str(ligand).split("_"):
            pairs.setdefault(gene, set()).update(str(receptor).split("_"))
    return {ligand: sorted(genes) for ligand, genes in sorted(pairs.items())}
