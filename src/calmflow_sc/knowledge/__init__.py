"""Gene and perturbation knowledge that works offline.

Tables shipped with the package (built by ``scripts/build_knowledge.py`` from Bioconductor's
``org.Hs.eg.db`` and ``GO.db`` and from FamPlex; see :doc:`/knowledge`): GO embeddings and
long descriptions of human protein-coding genes, aliases, and families and complexes.
Ligand -> receptor pairs are read on demand from an installed ``liana``.
"""

from __future__ import annotations

from ._descriptions import gene_descriptions
from ._embeddings import gene_embeddings
from ._families import families, family_members
from ._ligands import ligand_receptors
from ._perturbations import perturbation_embeddings
from ._symbols import UnknownGeneError, resolve_symbols
from ._tables import manifest

__all__ = [
    "UnknownGeneError",
    "families",
    "family_members",
    "gene_descriptions",
    "gene_embeddings",
    "ligand_receptors",
    "manifest",
    "perturbation_embeddings",
    "resolve_symbols",
]
