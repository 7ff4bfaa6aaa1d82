"""Locate dataset files: explicit path, data directory, user cache, verified download."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import anndata as ad

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "NO_DOWNLOAD_ENV",
    "DataFile",
    "cache_dir",
    "read_h5ad_quietly",
    "resolve",
]

DATA_DIR_ENV = "CALMFLOW_SC_DATA_DIR"
CACHE_DIR_ENV = "CALMFLOW_SC_CACHE_DIR"
NO_DOWNLOAD_ENV = "CALMFLOW_SC_NO_DOWNLOAD"
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """Description of a dataset file the package can read.

    Parameters
    ----------
    name
        File name looked up in data directories and in the cache.
    sha256
        Expected SHA256 checksum (hex) of the file; downloads are verified against it.
    study
        The original study the data come from.
    source
        Where the file comes from (repository, commit and path).
    url
        URL of a public copy of the file, or ``None`` when there is none to download.
    how_to_get
        Extra instructions for obtaining the file by hand (used when ``url`` is ``None``).
    """

    name: str
    sha256: str
    study: str
    source: str
    url: str | None = None
    how_to_get: str = ""


def cache_dir() -> Path:
    """Return the per-user cache directory of downloaded datasets.

    Returns
    -------
    pathlib.Path
        ``$CALMFLOW_SC_CACHE_DIR`` if set, else ``~/.cache/calmflow_sc`` (not created here).
    """
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "calmflow_sc"


def _downloads_disabled() -> bool:
    """Return whether ``CALMFLOW_SC_NO_DOWNLOAD`` asks to skip downloads."""
    value = os.environ.get(NO_DOWNLOAD_ENV, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def sha256sum(path: Path) -> str:
    """Return the hex SHA256 checksum of a file.

    Parameters
    ----------
    path
        File to hash.

    Returns
    -------
    str
        Hex digest.
    """
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url: str, destination: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` into ``destination`` (overwritten).

    Parameters
    ----------
    url
        Address to download.
    destination
        File to write.
    timeout
        Socket timeout in seconds.
    """
    request = urllib.request.Request(url, headers={"User-Agent": "calmflow-sc"})
    with (
        urllib.request.urlopen(request, timeout=timeout) as response,
        destination.open("wb") as handle,
    ):
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            handle.write(chunk)


def _fetch(spec: DataFile, directory: Path) -> Path:
    """Download ``spec`` into ``directory`` through a temporary file, verifying its checksum.

    Parameters
    ----------
    spec
        File to download; ``spec.url`` must be set.
    directory
        Target directory, created if needed.

    Returns
    -------
    pathlib.Path
        The verified file.

    Raises
    ------
    OSError
        If the download fails or the checksum does not match; no partial file is left behind.
    """
    if spec.url is None:  # pragma: no cover - guarded by the caller
        raise OSError(f"{spec.name} has no public copy to download.")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.name
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.name}.", suffix=".part", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        try:
            _download(spec.url, tmp, DOWNLOAD_TIMEOUT_S)
        except (OSError, ValueError, http.client.HTTPException) as error:
            raise OSError(f"download from {spec.url} failed: {error}") from error
        checksum = sha256sum(tmp)
        if checksum != spec.sha256:
            raise OSError(
                f"checksum mismatch for {spec.url}: got SHA256 {checksum}, expected {spec.sha256}"
            )
        tmp.replace(target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return target


def _not_found(spec: DataFile, searched: list[Path], reason: str) -> FileNotFoundError:
    """Build the error raised when a dataset file cannot be found or downloaded."""
    where = "\n".join(f"  - {p}" for p in searched) or "  (nowhere)"
    if spec.url is not None:
        get = f"Download it from {spec.url} (SHA256 {spec.sha256})."
    else:
        get = spec.how_to_get or "There is no public copy to download."
    return FileNotFoundError(
        f"Dataset file {spec.name!r} not found ({reason}).\n"
        f"Searched:\n{where}\n"
        f"Its data come from {spec.study}, taken from {spec.source}. {get}\n"
        f"Put it in a directory and pass that directory (or the file) as `path=`, or set the "
        f"environment variable {DATA_DIR_ENV} to that directory, or place it in the cache "
        f"directory {cache_dir()} (set {CACHE_DIR_ENV} to move it)."
    )


def resolve(spec: DataFile, path: str | os.PathLike[str] | None = None) -> Path:
    """Find a dataset file, downloading the public copy to the cache if needed.

    Parameters
    ----------
    spec
        The file to find.
    path
        A file (read as is) or a directory containing ``spec.name``. When given, only this
        location is searched. When ``None``: ``$CALMFLOW_SC_DATA_DIR``, then the cache directory
        (:func:`cache_dir`), then a download of ``spec.url`` into the cache (skipped if
        ``CALMFLOW_SC_NO_DOWNLOAD=1``), verified against ``spec.sha256``.

    Returns
    -------
    pathlib.Path
        Path of the existing file.

    Raises
    ------
    FileNotFoundError
        If the file is not found and cannot be downloaded; the message says which file is needed,
        where to get it and where to put it.
    """
    if path is not None:
        location = Path(path).expanduser()
        if location.is_file():
            return location
        candidate = location / spec.name if location.is_dir() else location
        if candidate.is_file():
            return candidate
        raise _not_found(spec, [candidate], "not at the given path")

    searched: list[Path] = []
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir:
        searched.append(Path(data_dir).expanduser() / spec.name)
    cached = cache_dir() / spec.name
    searched.append(cached)
    for candidate in searched:
        if candidate.is_file():
            return candidate

    if spec.url is None:
        reason = "no public copy to download"
    elif _downloads_disabled():
        reason = f"download skipped because {NO_DOWNLOAD_ENV} is set"
    else:
        try:
            return _fetch(spec, cached.parent)
        except OSError as error:
            reason = str(error)
    raise _not_found(spec, searched, reason)


def read_h5ad_quietly(path: Path) -> ad.AnnData:
    """Read an h5ad file without anndata's warnings about old file formats.

    Parameters
    ----------
    path
        File to read.

    Returns
    -------
    anndata.AnnData
        The data, loaded in memory.
    """
    with warnings.catch_warnings():
        # Files written by old anndata versions: ``.uns['neighbors']`` moved to ``.obsp``,
        # missing encoding metadata, old dataframe encodings.
        warnings.filterwarnings("ignore", message=r"(?s).*Moving element from \.uns")
        warnings.filterwarnings("ignore", message=r".*written without encoding metadata")
        warnings.filterwarnings("ignore", message=r".*written with a very old version of AnnData")
        return ad.read_h5ad(path)
