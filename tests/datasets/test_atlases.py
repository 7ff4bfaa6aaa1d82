from __future__ import annotations

import warnings
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from scipy import sparse

import calmflow_sc as cfs
from atlas_files import (
    CINEMAOT_CELL_TYPES,
    PARSE_CELL_TYPES,
    write_cinemaot_file,
    write_parse_file,
)
from calmflow_sc.datasets import dong2023_cinemaot, parse_pbmc_cytokines, write_log_normalized


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("CALMFLOW_SC_DATA_DIR", raising=False)
    monkeypatch.setenv("CALMFLOW_SC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CALMFLOW_SC_NO_DOWNLOAD", "1")
    return tmp_path


@pytest.fixture(scope="module")
def cinemaot_file(tmp_path_factory) -> Path:
    return write_cinemaot_file(tmp_path_factory.mktemp("cinemaot") / "dong2023_cinemaot.h5ad")


@pytest.fixture(scope="module")
def parse_file(tmp_path_factory) -> Path:
    return write_parse_file(tmp_path_factory.mktemp("parse") / "Parse_10M_PBMC_cytokines.h5ad")


def _raw_cinemaot(path: Path) -> ad.AnnData:
    """The file as written (its duplicated barcodes make anndata warn)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*names are not unique")
        return ad.read_h5ad(path)


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def _scanpy_log_normalized(counts) -> np.ndarray:
    reference = ad.AnnData(sparse.csr_matrix(counts, dtype=np.float32))
    sc.pp.normalize_total(reference, target_sum=1e4)
    sc.pp.log1p(reference)
    return _dense(reference.X)


# --- CINEMA-OT (Dong et al. 2023) ---------------------------------------------------------


def test_dong2023_harmonises_obs_to_the_package_conventions(cinemaot_file):
    adata = dong2023_cinemaot(cinemaot_file)
    obs = adata.obs
    assert obs["perturbation"].cat.categories[0] == "control"
    assert set(obs["perturbation"]) == {
        "control",
        "IL-6",
        "IFNa2",
        "IFNb+IFNg",
        "IFNb+IL-6",
        "IFNg",
        "TNFa",
        "IFNb",
        "IFN-III",
        "IFNb+TNFa",
    }
    # the file's label is kept beside the harmonised one
    no_stim = obs["stimulation"] == "No stimulation"
    assert (obs.loc[no_stim, "perturbation"] == "control").all()
    pair = obs["stimulation"] == "IFNb + IL-6"
    assert (obs.loc[pair, "perturbation"] == "IFNb+IL-6").all()
    assert set(obs["cell_type"]) == set(CINEMAOT_CELL_TYPES)
    assert set(obs["donor"]) == {"Donor 1", "Donor 2", "Donor 3"}
    assert set(obs["chronicity"]) == {"acute", "chronic"}
    batch = obs["batch"].astype(str)
    assert (batch == obs["donor"].astype(str) + " " + obs["chronicity"].astype(str)).all()
    assert adata.obs_names.is_unique  # the file has a duplicated barcode


def test_dong2023_log_normalises_counts_and_keeps_them(cinemaot_file):
    raw = _raw_cinemaot(cinemaot_file)
    adata = dong2023_cinemaot(cinemaot_file)
    np.testing.assert_array_equal(_dense(adata.layers["counts"]), _dense(raw.X))
    np.testing.assert_allclose(_dense(adata.X), _scanpy_log_normalized(raw.X), rtol=1e-6)
    kept = dong2023_cinemaot(cinemaot_file, log_normalize=False)
    np.testing.assert_array_equal(_dense(kept.X), _dense(raw.X))
    assert "counts" not in kept.layers


def test_dong2023_is_found_in_the_data_directory(cinemaot_file, isolated, monkeypatch):
    monkeypatch.setenv("CALMFLOW_SC_DATA_DIR", str(cinemaot_file.parent))
    assert dong2023_cinemaot().n_obs == _raw_cinemaot(cinemaot_file).n_obs
    assert dong2023_cinemaot(cinemaot_file.parent).n_obs > 0  # a directory as path


def test_dong2023_missing_file_says_where_to_get_it(isolated):
    with pytest.raises(FileNotFoundError, match=r"dryad\.4xgxd25g1") as error:
        dong2023_cinemaot()
    assert "dong2023_cinemaot.h5ad" in str(error.value)
    assert "CALMFLOW_SC_DATA_DIR" in str(error.value)


def test_dong2023_names_the_columns_it_misses(tmp_path):
    path = tmp_path / "other.h5ad"
    ad.AnnData(np.ones((3, 2), np.float32), obs={"condition": ["a", "b", "c"]}).write_h5ad(path)
    with pytest.raises(KeyError, match=r"perturbation.*found \['condition'\]"):
        dong2023_cinemaot(path)


def test_dong2023_rejects_batches_that_name_no_exposure(cinemaot_file, tmp_path):
    raw = _raw_cinemaot(cinemaot_file)
    raw.obs["batch"] = raw.obs["batch"].astype(str).str.replace("chronic", "week")
    path = tmp_path / "odd.h5ad"
    raw.write_h5ad(path)
    with pytest.raises(ValueError, match=r"Donor \d week.*acute\|chronic"):
        dong2023_cinemaot(path)
    # explicit donor and chronicity columns are used as they are
    raw.obs["donor"] = "D"
    raw.obs["chronicity"] = "Acute"
    raw.write_h5ad(path)
    assert set(dong2023_cinemaot(path).obs["chronicity"]) == {"acute"}


def test_dong2023_descriptions_cover_every_single_cytokine(cinemaot_file):
    perturbations = set(dong2023_cinemaot(cinemaot_file).obs["perturbation"]) - {"control"}
    singles = {part for p in perturbations for part in p.split("+")}
    assert singles == set(cfs.datasets.dong2023_descriptions())


# --- Parse 10M PBMC cytokines ---------------------------------------------------------------


def test_parse_backed_keeps_counts_on_disk_and_harmonises_obs(parse_file):
    adata = parse_pbmc_cytokines(parse_file)
    try:
        assert adata.isbacked
        assert set(adata.obs["perturbation"]) == {"control", "IFN-gamma", "IL-2", "4-1BBL"}
        pbs = adata.obs["cytokine"] == "PBS"
        assert (adata.obs.loc[pbs, "perturbation"] == "control").all()
        assert adata.obs["donor"].dtype == "category"
        assert set(adata.obs["cell_type"]) == set(PARSE_CELL_TYPES)
        # the file's columns stay
        assert {"sample", "treatment", "tscp_count", "bc1_well"} <= set(adata.obs.columns)
        first = adata.X[0:5]
        assert np.all(np.mod(_dense(first), 1) == 0)  # still raw counts
    finally:
        adata.file.close()


def test_parse_selection_is_read_into_memory_and_log_normalised(parse_file):
    raw = ad.read_h5ad(parse_file)
    adata = parse_pbmc_cytokines(parse_file, cytokines=["IFN-gamma"], donors=["Donor10"])
    assert not adata.isbacked
    assert set(adata.obs["perturbation"]) == {"control", "IFN-gamma"}  # PBS always kept
    assert list(adata.obs["perturbation"].cat.categories) == ["control", "IFN-gamma"]
    assert set(adata.obs["donor"]) == {"Donor10"}
    chosen = raw.obs["donor"].eq("Donor10") & raw.obs["cytokine"].isin(["PBS", "IFN-gamma"])
    assert adata.n_obs == int(chosen.sum())
    assert list(adata.obs_names) == list(raw.obs_names[chosen.to_numpy()])
    counts = raw.X[np.flatnonzero(chosen.to_numpy())]
    np.testing.assert_array_equal(_dense(adata.layers["counts"]), _dense(counts))
    np.testing.assert_allclose(_dense(adata.X), _scanpy_log_normalized(counts), rtol=1e-6)


def test_parse_caps_cells_per_group_reproducibly(parse_file):
    first = parse_pbmc_cytokines(parse_file, max_cells_per_group=2, seed=3)
    again = parse_pbmc_cytokines(parse_file, max_cells_per_group=2, seed=3)
    other = parse_pbmc_cytokines(parse_file, max_cells_per_group=2, seed=4)
    sizes = first.obs.groupby(["donor", "perturbation", "cell_type"], observed=True).size()
    assert (sizes == 2).all() and len(sizes) == 3 * 4 * 3
    assert list(first.obs_names) == list(again.obs_names)
    assert list(first.obs_names) != list(other.obs_names)


def test_parse_in_memory_without_selection(parse_file):
    adata = parse_pbmc_cytokines(parse_file, backed=False)
    assert not adata.isbacked and "counts" in adata.layers


@pytest.mark.parametrize(
    ("argument", "value"),
    [("cytokines", ["IL-99"]), ("donors", ["Donor7"]), ("cell_types", ["pDC"])],
)
def test_parse_rejects_absent_values_naming_those_present(parse_file, argument, value):
    with pytest.raises(ValueError, match=rf"{argument}=\['{value[0]}'\] not found; the file has"):
        parse_pbmc_cytokines(parse_file, **{argument: value})


def test_parse_missing_file_gives_the_download_command(isolated):
    with pytest.raises(FileNotFoundError, match=r"wget -c https://parse-wget"):
        parse_pbmc_cytokines()


def test_parse_data_set_up_and_train(parse_file):
    adata = parse_pbmc_cytokines(parse_file, cytokines=["IFN-gamma", "IL-2"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no raw-count warning: X is normalised
        cfs.CaLMFlowPerturb.setup_anndata(
            adata, "perturbation", "control", cell_type_key="cell_type", covariate_keys=["donor"]
        )
    model = cfs.CaLMFlowPerturb(adata, n_layers=1, hidden_size=16, n_heads=2, n_components=4)
    model.train(max_epochs=1, accelerator="cpu", enable_progress_bar=False)
    query = adata[adata.obs["perturbation"] == "control"].copy()
    predicted = model.predict(query, "IL-2", inplace=False)
    assert predicted.shape == query.shape


# --- write_log_normalized -------------------------------------------------------------------


def test_write_log_normalized_matches_scanpy_block_by_block(parse_file, tmp_path):
    out = write_log_normalized(parse_file, tmp_path / "normalised.h5ad", block_cells=17)
    raw = ad.read_h5ad(parse_file)
    copy = ad.read_h5ad(out)
    assert sparse.issparse(copy.X)
    np.testing.assert_allclose(_dense(copy.X), _scanpy_log_normalized(raw.X), rtol=1e-6)
    assert copy.obs.equals(raw.obs) and list(copy.var_names) == list(raw.var_names)
    # the copy opens backed and passes the model's checks without a raw-count warning
    backed = ad.read_h5ad(out, backed="r")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        cfs.CaLMFlowPerturb.setup_anndata(backed, "cytokine", "PBS")
    backed.file.close()


def test_write_log_normalized_from_a_dense_layer(tmp_path):
    counts = np.random.default_rng(0).poisson(3.0, (9, 5)).astype(np.float32)
    counts[4] = 0  # an empty cell stays zero
    source = tmp_path / "dense.h5ad"
    ad.AnnData(np.zeros_like(counts), layers={"counts": counts}).write_h5ad(source)
    out = write_log_normalized(source, tmp_path / "out.h5ad", layer="counts", block_cells=4)
    np.testing.assert_allclose(
        _dense(ad.read_h5ad(out).X), _scanpy_log_normalized(counts), rtol=1e-6
    )


def test_write_log_normalized_refuses_to_overwrite_or_take_non_counts(parse_file, tmp_path):
    out = tmp_path / "out.h5ad"
    out.write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_log_normalized(parse_file, out)
    assert out.read_text() == "keep me"
    with pytest.raises(ValueError, match="is the source"):
        write_log_normalized(parse_file, parse_file, overwrite=True)
    negative = tmp_path / "negative.h5ad"
    ad.AnnData(-np.ones((3, 2), np.float32)).write_h5ad(negative)
    target = tmp_path / "never.h5ad"
    with pytest.raises(ValueError, match="not raw counts"):
        write_log_normalized(negative, target)
    assert not target.exists() and not list(tmp_path.glob(".never.h5ad.part"))
