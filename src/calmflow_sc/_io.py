"""Reading and writing the data files of the command line: .h5ad and .h5mu."""

from __future__ import annotations

from pathlib import Path

from anndata import AnnData

SUFFIXES = (".h5ad", ".h5mu")


def _check_suffix(path: Path) -> None:
    if path.suffix not in SUFFIXES:
        raise ValueError(
            f"{str(path)!r} is neither an .h5ad nor an .h5mu file nor an annbatch collection "
            "(.zarr); convert it with anndata or mudata first."
        )


def read_cells(path: str | Path, modality: str = "rna", backed: bool = False) -> AnnData:
    """Read cells from an .h5ad file, one modality of an .h5mu file, or an annbatch collection.

    An annbatch collection (a ``.zarr`` directory) is opened lazily with
    :func:`calmflow_sc.data.read_collection`.

    For an .h5mu, columns of the MuData's global ``obs`` that the modality lacks are added to
    the modality's ``obs`` (for instance a perturbation label kept at the top level), see
    :func:`calmflow_sc._anndata.modality_with_obs`.

    Parameters
    ----------
    path
        The file.
    modality
        The modality holding expression, for .h5mu files.
    backed
        Open an .h5ad ``backed="r"`` (its expression stays on disk).

    Returns
    -------
    The cells.
    """
    path = Path(path)
    if path.suffix == ".zarr" and path.is_dir():
        from .data import read_collection

        return read_collection(path)
    _check_suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such file: {str(path)!r}.")
    try:
        if path.suffix == ".h5ad":
            import anndata

            return anndata.read_h5ad(path, backed="r" if backed else None)
        import mudata

        mdata = mudata.read_h5mu(path)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(
            f"Could not read {str(path)!r}: it is damaged or not an {path.suffix} file "
            f"({type(err).__name__}: {err})."
        ) from err
    from ._anndata import modality_with_obs

    if modality not in mdata.mod:
        raise KeyError(
            f"{str(path)!r} has no modality {modality!r} (modalities: {list(mdata.mod)}); pass "
            "--modality."
        )
    return modality_with_obs(mdata, modality)


def check_output_path(path: str | Path, overwrite: bool, suffixes=SUFFIXES) -> Path:
    """Check an output file before any work: its type, its folder, and no silent overwrite."""
    path = Path(path)
    if path.suffix not in suffixes:
        raise ValueError(f"--out {str(path)!r} must end in one of {list(suffixes)}.")
    if path.is_dir():
        raise ValueError(f"--out {str(path)!r} is a directory; name a file.")
    if path.exists() and not overwrite:
        raise ValueError(f"--out {str(path)!r} exists; pass --overwrite to replace it.")
    parent = path.absolute().parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"--out {str(path)!r}: {str(parent)!r} is not a directory.")
    return path


def write_cells(adata: AnnData, path: str | Path, modality: str = "rna") -> Path:
    """Write cells to an .h5ad, or as the ``modality`` of a new .h5mu file.

    Returns
    -------
    The path written.
    """
    path = Path(path)
    _check_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".h5ad":
        adata.write_h5ad(path)
    else:
        import mudata

        mudata.MuData({modality: adata}).write(path)
    return path
