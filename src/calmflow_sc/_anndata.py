"""Reading expression out of an AnnData, with errors that name the fix."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
from anndata import AnnData
from scipy import sparse

from ._suggest import did_you_mean, show_values

try:  # anndata's on-disk element API, for files written block by block
    from anndata.io import sparse_dataset, write_elem
except ImportError:  # anndata < 0.11
    from anndata.experimental import sparse_dataset, write_elem

__all__ = [
    "AnnDataKeyError",
    "ComputedRows",
    "as_key_list",
    "check_column",
    "get_expression",
    "modality_with_obs",
    "readable",
    "sample_rows",
    "sparse_dataset",
    "write_elem",
]


class AnnDataKeyError(KeyError, ValueError):
    """A key the user named is not in the AnnData.

    Both a :class:`KeyError` and a :class:`ValueError`, so either ``except`` catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ComputedRows:
    """A lazy (dask) matrix whose rows are computed when read.

    ``matrix[a:b]`` and ``matrix[rows]`` give NumPy arrays or SciPy sparse matrices, as the
    on-disk matrices of a backed AnnData do, so that code reading a matrix block by block
    reads a lazy one too (an annbatch collection, :func:`calmflow_sc.data.read_collection`).

    Parameters
    ----------
    array
        The lazy matrix (anything with ``shape``, ``dtype`` and a ``compute()`` of its blocks).
    """

    def __init__(self, array: Any):
        self.array = array
        self.shape = tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray | sparse.spmatrix:
        block = self.array[key]
        return block.compute() if hasattr(block, "compute") else block


def readable(matrix: Any) -> Any:
    """``matrix``, or for a lazy (dask) one a :class:`ComputedRows` of it."""
    dask_array = sys.modules.get("dask.array")  # loaded by whoever made a dask matrix
    if dask_array is not None and isinstance(matrix, dask_array.Array):
        return ComputedRows(matrix)
    return matrix


def get_expression(
    adata: AnnData, layer: str | None, name: str = "adata"
) -> np.ndarray | sparse.spmatrix:
    """The expression matrix of ``layer``, or ``adata.X`` for ``None``.

    Parameters
    ----------
    adata
        The data.
    layer
        A key of ``adata.layers``, or ``None`` for ``adata.X``.
    name
        How the object is called in error messages.

    Returns
    -------
    The stored dense array or sparse matrix (not a copy: do not modify it).
    """
    if layer is None:
        if adata.X is None:
            raise ValueError(
                f"`{name}.X` is empty. Pass `layer=` naming the layer that holds log-normalised "
                "expression."
            )
        return readable(adata.X)
    if layer not in adata.layers:
        raise AnnDataKeyError(
            f"Layer {layer!r} is not in `{name}.layers` (available: {list(adata.layers)})."
            f"{did_you_mean(layer, adata.layers)} Pass the name of the layer holding "
            f"log-normalised expression, or `layer=None` for `{name}.X`."
        )
    return readable(adata.layers[layer])


def as_key_list(keys: str | Iterable[str] | None) -> list[str]:
    """Keys as a list: ``"batch"`` (one key, as scanpy users write it) becomes ``["batch"]``.

    Parameters
    ----------
    keys
        One key, several, or ``None`` (none).
    """
    if keys is None:
        return []
    if isinstance(keys, str):
        return [keys]
    return [str(key) for key in keys]


def check_column(obs: Any, key: object, argument: str, place: str = "adata.obs") -> None:
    """Refuse a column name that ``obs`` lacks, naming the columns and the closest ones.

    Parameters
    ----------
    obs
        The table (``adata.obs``, ``mdata.obs`` ...).
    key
        The column the user named.
    argument
        The argument that named it, e.g. ``"perturbation_key"``.
    place
        How the table is called in the message.

    Raises
    ------
    AnnDataKeyError
        If ``key`` is not a column of ``obs``.
    """
    if key in obs.columns:
        return
    raise AnnDataKeyError(
        f"{argument}={key!r} is not a column of {place}.{did_you_mean(key, obs.columns)} "
        f"Columns: {show_values(obs.columns, 20)}. Pass the name of the column that holds it."
    )


def sample_rows(matrix: Any, max_rows: int, seed: int = 0) -> Any:
    """The rows of a matrix, or a random sample of ``max_rows`` of them in their order.

    Works on in-memory dense and sparse matrices and on the on-disk matrices of a backed
    AnnData (read in increasing row order, into memory); an in-memory matrix with at most
    ``max_rows`` rows is returned as it is.
    """
    n_rows = matrix.shape[0]
    if n_rows <= max_rows:
        in_memory = isinstance(matrix, np.ndarray) or sparse.issparse(matrix)
        return matrix if in_memory else matrix[0:n_rows]
    rows = np.sort(np.random.default_rng(seed).choice(n_rows, size=max_rows, replace=False))
    return matrix[rows]


def modality_with_obs(mdata, modality: str) -> AnnData:
    """A copy of one modality of a MuData, with the global ``obs`` columns it lacks.

    Columns of ``mdata.obs`` are added under their name without a ``"<modality>:"`` prefix,
    so a label kept at the top level or in another modality reaches the modality's cells.

    Parameters
    ----------
    mdata
        The MuData.
    modality
        The modality to copy.

    Returns
    -------
    The modality's AnnData.
    """
    if modality not in mdata.mod:
        raise AnnDataKeyError(
            f"The MuData has no modality {modality!r} (modalities: {list(mdata.mod)})."
        )
    adata = mdata.mod[modality].copy()
    shared = mdata.obs.loc[adata.obs_names]
    for column in shared.columns:
        name = column.split(":", 1)[1] if ":" in column else column
        if name not in adata.obs:
            adata.obs[name] = shared[column].to_numpy()
    return adata
