"""The save format: file names, the manifest with every file's checksum, atomic writes.

A save is first written to a temporary directory beside the target, then renamed into place,
so that a crash while saving leaves the earlier model intact; files of an earlier save with
the same prefix do not survive (other files of the directory are kept). Loading checks the
format version and every checksum before reading anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT_NAME = "calmflow-sc"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
ATTRIBUTES = "model.json"
WEIGHTS = "weights.safetensors"
LEGACY_MODEL = "model.pt"
LANGUAGE_MODEL_DIR = "language_model"
ADATA_FILE = "adata.h5ad"
MDATA_FILE = "mdata.h5mu"
# names that belong to a save (this format or 0.1.0's), with the save's prefix
SAVE_NAMES = (
    MANIFEST,
    ATTRIBUTES,
    WEIGHTS,
    LEGACY_MODEL,
    LANGUAGE_MODEL_DIR,
    ADATA_FILE,
    MDATA_FILE,
)
_CHUNK = 1 << 20


class CheckpointError(ValueError):
    """A saved model that cannot be read: damaged, incomplete, foreign or too new."""


def sha256(path: Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(root: Path) -> list[str]:
    """Relative POSIX paths of every file under ``root``, sorted."""
    return sorted(
        PurePosixPath(path.relative_to(root)).as_posix()
        for path in root.rglob("*")
        if path.is_file()
    )


def has_manifest(directory: Path, prefix: str = "") -> bool:
    """Whether ``directory`` holds a save of this format with ``prefix``."""
    return (directory / f"{prefix}{MANIFEST}").is_file()


def has_save(directory: Path, prefix: str = "") -> bool:
    """Whether ``directory`` holds a model saved with ``prefix`` (this format or 0.1.0's)."""
    return (directory / f"{prefix}{MANIFEST}").is_file() or (
        directory / f"{prefix}{LEGACY_MODEL}"
    ).is_file()


def _owned_names(directory: Path, prefix: str) -> set[str]:
    """Top-level names in ``directory`` that belong to the save with ``prefix``."""
    owned = {f"{prefix}{name}" for name in SAVE_NAMES if (directory / f"{prefix}{name}").exists()}
    manifest = directory / f"{prefix}{MANIFEST}"
    try:
        listed = json.loads(manifest.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        listed = {}
    owned |= {PurePosixPath(name).parts[0] for name in listed if PurePosixPath(name).parts}
    return owned


def _carry(source: Path, destination: Path) -> None:
    """Hard-link (or copy) a file or folder of the earlier directory into the new one."""
    if source.is_dir():
        shutil.copytree(source, destination, copy_function=_link_or_copy)
    else:
        _link_or_copy(source, destination)


def _link_or_copy(source: str | Path, destination: str | Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def write_checkpoint(
    directory: str | Path,
    write: Callable[[Path], None],
    *,
    prefix: str = "",
    overwrite: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a save atomically: into a temporary directory, then renamed into place.

    Parameters
    ----------
    directory
        Directory of the save; created if needed.
    write
        Writes the save's files (named with ``prefix``) into the folder it is given.
    prefix
        Prefix of the save's file names.
    overwrite
        Replace an earlier save with the same prefix; otherwise such a save is an error.
    metadata
        Further entries of the manifest (e.g. the model class).

    Returns
    -------
    The directory.
    """
    target = Path(directory).absolute()
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{str(target)!r} is a file; save to a directory.")
    if target.is_dir() and has_save(target, prefix) and not overwrite:
        raise FileExistsError(
            f"{str(target)!r} already holds a saved model"
            + (f" with prefix {prefix!r}" if prefix else "")
            + "; pass overwrite=True to replace it, or choose another directory."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-", dir=target.parent))
    try:
        write(staging)
        from .. import __version__

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "calmflow_sc_version": __version__,
            **(metadata or {}),
            "files": {
                name: {"sha256": sha256(staging / name), "bytes": (staging / name).stat().st_size}
                for name in _files_under(staging)
            },
        }
        (staging / f"{prefix}{MANIFEST}").write_text(json.dumps(manifest, indent=1))
        if target.is_dir():
            replaced = _owned_names(target, prefix)
            written = {path.name for path in staging.iterdir()}
            for entry in target.iterdir():
                if entry.name not in replaced and entry.name not in written:
                    _carry(entry, staging / entry.name)
            previous = target.parent / f".{target.name}.previous-{uuid.uuid4().hex[:8]}"
            target.rename(previous)
            staging.rename(target)
            shutil.rmtree(previous, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _interrupted_saves(directory: Path) -> list[Path]:
    return sorted(directory.parent.glob(f".{directory.name}.previous-*"))


def read_manifest(directory: str | Path, prefix: str = "") -> dict[str, Any]:
    """Read and verify a save's manifest: format, version and every file's checksum.

    Raises
    ------
    FileNotFoundError
        When the directory holds no save with this prefix.
    CheckpointError
        When the manifest is damaged, of another format or a newer version, or a file is
        missing or differs from what was saved.
    """
    directory = Path(directory)
    path = directory / f"{prefix}{MANIFEST}"
    if not directory.is_dir():
        hint = ""
        if interrupted := _interrupted_saves(directory):
            hint = (
                f" An interrupted save left the previous model in {str(interrupted[-1])!r}; "
                "rename it back to load it."
            )
        raise FileNotFoundError(
            f"No saved model in {str(directory)!r}: it is not a directory.{hint}"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"No saved model in {str(directory)!r}: {path.name!r} is missing (a directory "
            "written by model.save(dir)" + (f" with prefix={prefix!r}" if prefix else "") + ")."
        )
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        version = int(manifest["format_version"])
        name = manifest["format"]
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{str(path)!r} is damaged ({type(err).__name__}: {err}); the model cannot be "
            "verified. Save it again from its source."
        ) from err
    if name != FORMAT_NAME:
        raise CheckpointError(f"{str(path)!r} describes a {name!r} save, not a calmflow-sc model.")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"The model in {str(directory)!r} uses save format {version}, newer than this "
            f"calmflow-sc reads ({FORMAT_VERSION}); upgrade: pip install -U calmflow-sc."
        )
    for relative, info in files.items():
        parts = PurePosixPath(relative).parts
        if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
            raise CheckpointError(f"{str(path)!r} lists a file outside the save: {relative!r}.")
        file = directory.joinpath(*parts)
        if not file.is_file():
            raise CheckpointError(
                f"The save in {str(directory)!r} is incomplete: {relative!r} is missing."
            )
        if sha256(file) != info["sha256"]:
            raise CheckpointError(
                f"{relative!r} in {str(directory)!r} differs from what was saved (checksum "
                "mismatch): the file is damaged or was modified. Do not use it; save the model "
                "again from its source."
            )
    return manifest
