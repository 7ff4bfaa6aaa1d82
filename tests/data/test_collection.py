"""Training from an annbatch collection of several files, without loading them."""

from __future__ import annotations

import numpy as np
import pytest

from calmflow_sc import CaLMFlowPerturb
from calmflow_sc.data import read_collection
from helpers import TINY_MODEL, gen_adata

annbatch = pytest.importorskip("annbatch")  # Python 3.12 stack


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """Three .h5ad files of 200 cells each, shuffled into one annbatch collection."""
    folder = tmp_path_factory.mktemp("collection")
    paths = []
    for index in range(3):
        adata = gen_adata(n_cells=200, seed=index)
        adata.obs_names = [f"file{index}_{cell}" for cell in range(adata.n_obs)]
        for column in ("condition", "cell_type"):
            adata.obs[column] = adata.obs[column].astype(str)
        paths.append(folder / f"part{index}.h5ad")
        adata.write_h5ad(paths[-1])
    annbatch.DatasetCollection(folder / "cells.zarr").add_adatas(
        [str(p) for p in paths],
        dataset_size=250,
        shard_size=100,
        n_obs_per_chunk=16,
        shuffle_chunk_size=50,
        rng=np.random.default_rng(0),
    )
    return folder / "cells.zarr"


def _train(adata):
    import scvi

    scvi.settings.seed = 0
    CaLMFlowPerturb.setup_anndata(adata, "condition", "control", cell_type_key="cell_type")
    model = CaLMFlowPerturb(adata, **TINY_MODEL)
    model.train(max_epochs=2, enable_progress_bar=False, num_threads=1)
    return model


def test_a_collection_opens_lazily_with_every_cell_and_label(collection):
    import dask.array as da

    adata = read_collection(collection, ["condition", "cell_type"])
    assert adata.n_obs == 600 and adata.n_vars == 40
    assert isinstance(adata.X, da.Array)  # nothing loaded
    assert list(adata.obs.columns) == ["condition", "cell_type"]
    names = adata.obs_names.str.split("_").str[0]
    assert set(names) == {"file0", "file1", "file2"}
    in_memory = adata.X[:5].compute()
    assert in_memory.shape == (5, 40)


def test_training_on_a_collection_equals_training_on_it_in_memory(collection):
    lazy = read_collection(collection, ["condition", "cell_type"])
    loaded = lazy.copy()
    loaded.X = lazy.X.compute()
    query = gen_adata(n_cells=30, seed=7)
    query = query[query.obs["condition"] == "control"].copy()
    predictions = []
    for adata in (lazy, loaded):
        model = _train(adata)
        predictions.append(model.predict(query, "IFNB", inplace=False).X)
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-5, atol=1e-6)


def test_a_missing_collection_or_layer_is_named(tmp_path, collection):
    with pytest.raises(ValueError, match="does not exist"):
        read_collection(tmp_path / "nothing.zarr")
    with pytest.raises(ValueError, match="Layer 'counts' is not in dataset_0"):
        read_collection(collection, layer="counts")


def test_the_command_line_trains_from_a_collection(collection, tmp_path):
    from calmflow_sc.cli import main

    argv = ["train", str(collection), "--perturbation-key", "condition"]
    argv += ["--control-value", "control", "--cell-type-key", "cell_type", "--max-epochs", "1"]
    argv += ["--accelerator", "cpu", "--num-threads", "1", "--out", str(tmp_path / "model")]
    assert main(argv) == 0
    model = CaLMFlowPerturb.load(tmp_path / "model", accelerator="cpu")
    assert model.is_trained_ and len(model.var_names_) == 40
