from __future__ import annotations

import hashlib
import os
import urllib.error
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
from scipy import sparse

from calmflow_sc.datasets import _files, kang2018, kang2018_counts, norman2019_devel
from calmflow_sc.datasets._files import DataFile, resolve
from calmflow_sc.datasets._real import KANG2018, KANG2018_COUNTS, NORMAN2019_DEVEL

Loader = Callable[..., ad.AnnData]

FILES = {
    kang2018: "kang2018_pbmc_ifnb.h5ad",
    kang2018_counts: "kang2018_pbmc_ifnb_counts.h5ad",
    norman2019_devel: "norman2019_mcfaline2023_devel.h5ad",
}
LOADERS = pytest.mark.parametrize("loader", list(FILES), ids=lambda f: f.__name__)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No data dir, an empty cache in tmp_path and no downloads; returns the cache dir."""
    cache = tmp_path / "cache"
    monkeypatch.delenv("CALMFLOW_SC_DATA_DIR", raising=False)
    monkeypatch.setenv("CALMFLOW_SC_CACHE_DIR", str(cache))
    monkeypatch.setenv("CALMFLOW_SC_NO_DOWNLOAD", "1")
    return cache


@pytest.fixture
def data_dir() -> Path:
    value = os.environ.get("CALMFLOW_SC_DATA_DIR")
    if not value:
        pytest.skip("CALMFLOW_SC_DATA_DIR is not set")
    return Path(value)


def _real_file(data_dir: Path, loader: Loader) -> Path:
    path = data_dir / FILES[loader]
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def _tiny_h5ad(path: Path) -> bytes:
    """Write a tiny h5ad file at ``path`` and return its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny = ad.AnnData(X=np.arange(6, dtype=np.float32).reshape(2, 3))
    tiny.write_h5ad(path)
    return path.read_bytes()


def _check_content(loader: Loader, adata: ad.AnnData) -> None:
    assert sparse.issparse(adata.X)
    if loader is kang2018:
        assert adata.shape == (1975, 6998)
        assert set(adata.obs["condition"].unique()) == {"control", "stimulated"}
        assert adata.obs["cell_type"].nunique() == 7
        assert adata.X.data.min() >= 0
        assert "distances" in adata.obsp
    elif loader is kang2018_counts:
        assert adata.shape == (1556, 1267)
        assert set(adata.obs["group_id"].unique()) == {"ctrl", "stim"}
        assert adata.obs["cluster_id"].nunique() == 5
        assert set(adata.obs["sample_id"].unique()) == {"ctrl101", "ctrl107", "stim101", "stim107"}
        np.testing.assert_array_equal(adata.X.data, np.round(adata.X.data))
        assert "logcounts" in adata.layers
    else:
        assert adata.shape == (5961, 500)
        conditions = set(adata.obs["condition"].unique())
        assert "control" in conditions
        assert any("+" in c for c in conditions)
        assert set(adata.obs["cell_type"].unique()) == {"k562", "T98G", "U87MG", "A172"}
        for column in ("dataset", "dose", "perturbation_type"):
            assert column in adata.obs


@pytest.mark.realdata
@LOADERS
def test_reads_from_data_dir_env(
    loader: Loader, data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _real_file(data_dir, loader)
    monkeypatch.setenv("CALMFLOW_SC_DATA_DIR", str(data_dir))
    monkeypatch.setenv("CALMFLOW_SC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CALMFLOW_SC_NO_DOWNLOAD", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adata = loader()
    _check_content(loader, adata)
    assert not [w for w in caught if "Moving element" in str(w.message)]
    assert not [w for w in caught if issubclass(w.category, FutureWarning)]


@pytest.mark.realdata
@LOADERS
def test_reads_from_explicit_file(loader: Loader, data_dir: Path, isolated: Path) -> None:
    path = _real_file(data_dir, loader)
    _check_content(loader, loader(path))
    _check_content(loader, loader(str(path)))


@pytest.mark.realdata
@LOADERS
def test_reads_from_directory(loader: Loader, data_dir: Path, isolated: Path) -> None:
    _real_file(data_dir, loader)
    _check_content(loader, loader(data_dir))


@pytest.mark.realdata
def test_sha256_of_shared_files(data_dir: Path) -> None:
    specs = {spec.name: spec for spec in (KANG2018, KANG2018_COUNTS, NORMAN2019_DEVEL)}
    for name, spec in specs.items():
        path = data_dir / name
        if not path.is_file():
            pytest.skip(f"{path} is missing")
        assert _files.sha256sum(path) == spec.sha256


@LOADERS
def test_missing_file_error(
    loader: Loader, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("download attempted despite CALMFLOW_SC_NO_DOWNLOAD=1")

    monkeypatch.setattr(_files, "_download", no_download)
    with pytest.raises(FileNotFoundError) as info:
        loader()
    message = str(info.value)
    assert FILES[loader] in message
    assert "CALMFLOW_SC_DATA_DIR" in message
    assert "path=" in message
    assert str(isolated) in message
    assert "github.com/" in message
    assert "Kang" in message or "Norman" in message
    assert not isolated.exists() or not any(isolated.iterdir())


@LOADERS
def test_missing_explicit_path(loader: Loader, isolated: Path, tmp_path: Path) -> None:
    # A file in the cache does not count when an explicit location is given.
    _tiny_h5ad(isolated / FILES[loader])
    empty = tmp_path / "empty"
    empty.mkdir()
    for path in (empty, empty / FILES[loader]):
        with pytest.raises(FileNotFoundError, match=FILES[loader]):
            loader(path)


@LOADERS
def test_reads_from_cache(loader: Loader, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _tiny_h5ad(isolated / FILES[loader])
    adata = loader()
    assert adata.shape == (2, 3)
    # A data directory without the file falls back to the cache.
    monkeypatch.setenv("CALMFLOW_SC_DATA_DIR", str(isolated.parent / "nowhere"))
    assert loader().shape == (2, 3)


def test_data_dir_takes_precedence_over_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    name = FILES[kang2018]
    _tiny_h5ad(isolated / name)
    data = tmp_path / "data"
    ad.AnnData(X=np.ones((4, 2), dtype=np.float32)).write_h5ad(_mkdir(data) / name)
    monkeypatch.setenv("CALMFLOW_SC_DATA_DIR", str(data))
    assert kang2018().shape == (4, 2)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALMFLOW_SC_CACHE_DIR", raising=False)
    assert _files.cache_dir() == Path.home() / ".cache" / "calmflow_sc"
    monkeypatch.setenv("CALMFLOW_SC_CACHE_DIR", "/some/where")
    assert _files.cache_dir() == Path("/some/where")


def test_download_checksum_mismatch_leaves_nothing(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALMFLOW_SC_NO_DOWNLOAD", "0")
    calls: list[str] = []

    def fake_download(url: str, destination: Path, timeout: float = 30.0) -> None:
        calls.append(url)
        assert timeout <= 60
        destination.write_bytes(b"not the real file")

    monkeypatch.setattr(_files, "_download", fake_download)
    with pytest.raises(FileNotFoundError, match="checksum") as info:
        kang2018()
    assert calls == ["https://github.com/theislab/scgen/raw/dd7e178/data/valid.h5ad"]
    assert "kang2018_pbmc_ifnb.h5ad" in str(info.value)
    assert "CALMFLOW_SC_DATA_DIR" in str(info.value)
    assert list(isolated.iterdir()) == []


def test_download_network_error_leaves_nothing(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CALMFLOW_SC_NO_DOWNLOAD")

    def offline(url: str, destination: Path, timeout: float = 30.0) -> None:
        destination.write_bytes(b"partial")
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(_files, "_download", offline)
    with pytest.raises(FileNotFoundError, match=r"norman2019_mcfaline2023_devel\.h5ad") as info:
        norman2019_devel()
    assert "altoslabs/perturbench" in str(info.value)
    assert "unreachable" in str(info.value)
    assert list(isolated.iterdir()) == []


def test_counts_file_is_never_downloaded(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALMFLOW_SC_NO_DOWNLOAD")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("the counts file has no public copy")

    monkeypatch.setattr(_files, "_download", no_download)
    with pytest.raises(FileNotFoundError, match="muscat") as info:
        kang2018_counts()
    assert "kang2018_pbmc_ifnb_counts.h5ad" in str(info.value)


def test_successful_download_goes_to_cache(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CALMFLOW_SC_NO_DOWNLOAD")
    payload = _tiny_h5ad(tmp_path / "source" / "tiny.h5ad")
    spec = DataFile(
        name="tiny.h5ad",
        sha256=hashlib.sha256(payload).hexdigest(),
        study="a test study",
        source="nowhere",
        url="https://example.org/tiny.h5ad",
    )

    def fake_download(url: str, destination: Path, timeout: float = 30.0) -> None:
        assert url == spec.url
        destination.write_bytes(payload)

    monkeypatch.setattr(_files, "_download", fake_download)
    path = resolve(spec)
    assert path == isolated / "tiny.h5ad"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in isolated.iterdir()) == ["tiny.h5ad"]
    assert _files.read_h5ad_quietly(path).shape == (2, 3)

    # Once cached, no further download.
    monkeypatch.setattr(_files, "_download", None)
    assert resolve(spec) == path
