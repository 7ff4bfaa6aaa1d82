"""Training data kept on disk as an annbatch collection of several files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anndata as ad
import pandas as pd


def read_collection(
    path: str | Path, obs_columns: Sequence[str] | None = None, layer: str | None = None
) -> ad.AnnData:
    """Open an `annbatch <https://annbatch.readthedocs.io>`_ collection as one lazy AnnData.

    An annbatch :class:`~annbatch.DatasetCollection` (a ``.zarr`` store of shuffled datasets
    ``dataset_0``, ``dataset_1`` ... with the same genes, written by
    ``DatasetCollection(path).add_adatas(files)``) is read without loading its expression:
    ``obs`` and ``var`` come into memory, ``X`` stays a lazy (dask) matrix over the datasets
    on disk. :meth:`~calmflow_sc.CaLMFlowPerturb.setup_anndata` and ``train`` read it block by
    block, as they read a backed ``.h5ad`` (:doc:`/large_data`). Needs ``annbatch`` (Python
    3.12 and later: ``pip install annbatch``).

    Parameters
    ----------
    path
        The collection's ``.zarr`` directory.
    obs_columns
        The ``obs`` columns to read (the perturbation, cell-type and covariate columns);
        ``None`` reads them all.
    layer
        A layer of the collection to read as ``X`` instead of its ``X`` (e.g. the
        log-normalised one when ``X`` holds counts).

    Returns
    -------
    An AnnData of every cell of the collection, in its order, with ``X`` lazy.

    Raises
    ------
    ImportError
        Without annbatch.
    ValueError
        If ``path`` holds no annbatch collection, or the layer is missing.
    """
    try:
        from annbatch import DatasetCollection
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading an annbatch collection needs annbatch (Python 3.12 and later): "
            "pip install annbatch."
        ) from err
    import dask.array as da

    path = Path(path)
    if not path.exists():
        raise ValueError(f"No annbatch collection at {str(path)!r}: the path does not exist.")
    collection = DatasetCollection(path, mode="r")
    if collection.is_empty:
        raise ValueError(
            f"{str(path)!r} holds no annbatch collection; write one with "
            "annbatch.DatasetCollection(path).add_adatas([file, ...])."
        )
    groups = list(collection)
    matrices = []
    for index, group in enumerate(groups):
        if layer is None:
            element = group["X"]
        elif "layers" in group and layer in group["layers"]:
            element = group["layers"][layer]
        else:
            raise ValueError(
                f"Layer {layer!r} is not in dataset_{index} of the collection; pass the name of "
                "a layer every file had, or layer=None for X."
            )
        matrices.append(ad.experimental.read_elem_lazy(element))
    columns = None if obs_columns is None else list(obs_columns)
    obs = collection.obs(columns)
    obs.index = obs.index.astype(str)
    var = ad.io.read_elem(groups[0]["var"])
    if not obs.index.is_unique:
        obs.index = pd.Index([f"{name}-{i}" for i, name in enumerate(obs.index)])
    return ad.AnnData(X=da.concatenate(matrices, axis=0), obs=obs, var=var)
