"""A log-normalised copy of a raw-count .h5ad file, written in blocks of cells."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
from scipy import sparse

__all__ = ["write_log_normalized"]


def _log_normalized_block(
    counts: np.ndarray | sparse.spmatrix, target_sum: float
) -> sparse.csr_matrix:
    """``log1p`` of each row scaled to ``target_sum`` counts (empty rows stay zero)."""
    block = sparse.csr_matrix(counts, dtype=np.float32)
    totals = np.asarray(block.sum(axis=1)).ravel()
    scale = np.divide(target_sum, totals, out=np.zeros_like(totals), where=totals > 0)
    block = sparse.csr_matrix(sparse.diags(scale.astype(np.float32)) @ block)
    np.log1p(block.data, out=block.data)
    return block


def write_log_normalized(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    layer: str | None = None,
    target_sum: float = 1e4,
    block_cells: int = 50_000,
    overwrite: bool = False,
) -> Path:
    """Write a log-normalised copy of a raw-count ``.h5ad`` file, without loading it.

    The same as ``sc.pp.normalize_total(adata, target_sum=target_sum)`` then
    ``sc.pp.log1p(adata)``, a block of cells at a time, so that an atlas larger than memory
    (e.g. :func:`parse_pbmc_cytokines`) becomes a file the model trains on from disk
    (``anndata.read_h5ad(destination, backed="r")``). The copy holds the normalised values in
    a sparse (CSR) ``X`` and the source's ``obs`` and ``var``; the counts are not copied.

    Parameters
    ----------
    source
        ``.h5ad`` file whose ``X`` (or ``layer``) holds raw counts.
    destination
        ``.h5ad`` file to write; written under a temporary name and moved into place when
        complete, so an interrupted run leaves no partial file.
    layer
        Layer of ``source`` holding the counts; ``None`` for ``X``.
    target_sum
        Counts each cell is scaled to before ``log1p``.
    block_cells
        Cells read and written at a time.
    overwrite
        Replace ``destination`` if it exists.

    Returns
    -------
    The path written.

    Raises
    ------
    FileExistsError
        If ``destination`` exists and ``overwrite`` is false.
    ValueError
        If ``source`` and ``destination`` are the same file, or the counts hold negative values.
    """
    import anndata as ad
    import h5py

    from .._anndata import sparse_dataset, write_elem

    source, destination = Path(source), Path(destination)
    if destination.exists() and source.exists() and destination.resolve() == source.resolve():
        raise ValueError("destination is the source file; choose another path for the copy.")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} exists; pass overwrite=True to replace it.")
    if int(block_cells) < 1:
        raise ValueError(f"block_cells must be at least 1, got {block_cells}.")
    adata = ad.read_h5ad(source, backed="r")
    if adata.n_obs == 0:
        adata.file.close()
        raise ValueError(f"{source} holds no cells.")
    matrix = adata.X if layer is None else adata.layers[layer]
    partial = destination.with_name(f".{destination.name}.part")
    try:
        with h5py.File(partial, "w") as file:
            file.attrs["encoding-type"] = "anndata"
            file.attrs["encoding-version"] = "0.1.0"
            stored = None
            for start in range(0, adata.n_obs, int(block_cells)):
                counts = matrix[start : start + int(block_cells)]
                values = counts.data if sparse.issparse(counts) else np.asarray(counts)
                if values.size and np.min(values) < 0:
                    raise ValueError(
                        f"{source} has negative values in cells from {start}: "
                        "not raw counts. Pass the layer that holds the counts."
                    )
                block = _log_normalized_block(counts, float(target_sum))
                if stored is None:
                    write_elem(file, "X", block)
                    stored = sparse_dataset(file["X"])
                else:
                    stored.append(block)
            write_elem(file, "obs", adata.obs)
            write_elem(file, "var", adata.var)
            normalization = {"target_sum": float(target_sum), "log1p": True}
            write_elem(file, "uns", {"calmflow_sc_normalization": normalization})
        partial.replace(destination)
    finally:
        adata.file.close()
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return destination
