"""The simulated experiment written to an .h5ad file in blocks, at any number of cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._simulated import simulated


def write_simulated(
    path: str | Path,
    n_cells: int,
    n_genes: int = 2000,
    seed: int = 0,
    block_cells: int = 10_080,
) -> Path:
    """Write :func:`simulated` cells to an ``.h5ad`` file, a block at a time.

    Memory holds one block whatever ``n_cells``, so that files of millions of cells can be
    made on a small machine (the scale benchmark's data). The file has a sparse (CSR) ``X`` of
    log-normalised expression and the ``condition``, ``cell_type`` and ``donor`` columns of
    :func:`simulated`; read it with ``anndata.read_h5ad(path, backed="r")``.

    Parameters
    ----------
    path
        The file to write; it is replaced if it exists.
    n_cells
        Number of cells.
    n_genes
        Number of genes.
    seed
        Seed of the simulation.
    block_cells
        Cells simulated per block (one simulated experiment of 6 conditions x 4 cell types
        with ``block_cells / 24`` cells per group). Every block repeats the same experiment,
        its cells shuffled (once, the same in every block) and renamed (``cell_0000000``
        ...), so the file is one experiment whatever its size.

    Returns
    -------
    The path written.
    """
    import h5py

    from .._anndata import sparse_dataset, write_elem

    if int(n_cells) < 1:
        raise ValueError(f"n_cells must be at least 1, got {n_cells}.")
    path = Path(path)
    block = simulated(n_cells_per_group=max(1, block_cells // 24), n_genes=n_genes, seed=seed)
    # in random order, so that any number of cells holds every condition and cell type
    block = block[np.random.default_rng(seed).permutation(block.n_obs)]
    matrix = block.X.tocsr().astype(np.float32)
    n_block = block.n_obs
    obs_parts = []
    with h5py.File(path, "w") as file:
        file.attrs["encoding-type"] = "anndata"
        file.attrs["encoding-version"] = "0.1.0"
        stored = None
        for start in range(0, int(n_cells), n_block):
            take = min(n_block, int(n_cells) - start)
            if stored is None:
                write_elem(file, "X", matrix[:take])
                stored = sparse_dataset(file["X"])
            else:
                stored.append(matrix[:take])
            obs_parts.append(block.obs.iloc[:take])
        obs = pd.concat(obs_parts)
        obs.index = pd.Index([f"cell_{i:07d}" for i in range(len(obs))])
        for column in obs.columns:
            obs[column] = pd.Categorical(
                obs[column].astype(str), categories=block.obs[column].cat.categories
            )
        write_elem(file, "obs", obs)
        write_elem(file, "var", block.var)
    return path
