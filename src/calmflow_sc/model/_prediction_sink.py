"""Where gene-space predictions go, block by block: a dense or sparse layer, or a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from .._anndata import write_elem

#: The in-memory forms of the gene-space output of :meth:`~calmflow_sc.CaLMFlowPerturb.predict`.
IN_MEMORY_OUTPUTS = ("dense", "sparse")


class DenseSink:
    """Collect the predictions in one dense float32 matrix."""

    def __init__(self, n_cells: int, n_genes: int):
        self.values = np.zeros((n_cells, n_genes), dtype=np.float32)

    def write(self, start: int, block: np.ndarray) -> None:
        """Store the rows ``start : start + len(block)``."""
        self.values[start : start + len(block)] = block

    def result(self) -> np.ndarray:
        """The matrix."""
        return self.values


class SparseSink:
    """Collect the predictions as a CSR matrix: zeros (clipped expression) are not stored."""

    def __init__(self, n_cells: int, n_genes: int):
        self.shape = (n_cells, n_genes)
        self.blocks: list[sparse.csr_matrix] = []

    def write(self, start: int, block: np.ndarray) -> None:
        """Store the next rows (blocks arrive in order)."""
        self.blocks.append(sparse.csr_matrix(block))

    def result(self) -> sparse.csr_matrix:
        """The matrix."""
        if not self.blocks:
            return sparse.csr_matrix(self.shape, dtype=np.float32)
        return sparse.vstack(self.blocks, format="csr").astype(np.float32)


class H5adSink:
    """Stream the predictions into a new ``.h5ad`` file, one block of rows at a time.

    The file is an AnnData that :func:`anndata.read_h5ad` reads (whole or ``backed="r"``):
    the predictions in ``X``, ``obs`` of the predicted cells, ``var`` of the genes, and, on
    :meth:`finish`, the coordinates in ``obsm`` and the parameters in ``uns``. It is written to a temporary name and moved into place when
    finished, so that an interrupted prediction leaves no half-written file under ``path``.

    Parameters
    ----------
    path
        The file to write (``.h5ad``); it must not exist.
    n_cells, n_genes
        Shape of the predictions.
    chunk_rows
        Rows per HDF5 chunk.
    """

    def __init__(self, path: Path, n_cells: int, n_genes: int, chunk_rows: int = 1024):
        import h5py

        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.file = h5py.File(self.partial, "w")
        self.file.attrs["encoding-type"] = "anndata"
        self.file.attrs["encoding-version"] = "0.1.0"
        self.values = self.file.create_dataset(
            "X",
            shape=(n_cells, n_genes),
            dtype=np.float32,
            chunks=(max(1, min(chunk_rows, n_cells)), max(1, n_genes)),
        )
        self.values.attrs["encoding-type"] = "array"
        self.values.attrs["encoding-version"] = "0.2.0"

    def write(self, start: int, block: np.ndarray) -> None:
        """Write the rows ``start : start + len(block)``."""
        self.values[start : start + len(block)] = block

    def finish(
        self, obs: pd.DataFrame, var: pd.DataFrame, obsm: dict[str, np.ndarray], uns: dict
    ) -> Path:
        """Write the annotations, close the file and move it into place."""
        write_elem(self.file, "obs", obs)
        write_elem(self.file, "var", var)
        write_elem(self.file, "obsm", obsm)
        write_elem(self.file, "uns", uns)
        self.file.close()
        self.partial.replace(self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the partial file."""
        if self.file.id.valid:
            self.file.close()
        self.partial.unlink(missing_ok=True)


def check_output(output: str | Path, overwrite: bool) -> Path | None:
    """Check ``predict``'s ``output``: ``"dense"``, ``"sparse"`` or a new ``.h5ad`` path.

    Returns
    -------
    The path to stream to, or ``None`` for an in-memory output.

    Raises
    ------
    ValueError
        If ``output`` is none of these, or names an existing file without ``overwrite``.
    """
    if isinstance(output, str) and output in IN_MEMORY_OUTPUTS:
        return None
    if not isinstance(output, str | Path) or Path(output).suffix != ".h5ad":
        raise ValueError(
            f"output must be 'dense', 'sparse' or the path of an .h5ad file to stream the "
            f"predictions to, got {output!r}."
        )
    path = Path(output)
    if path.exists() and not overwrite:
        raise ValueError(
            f"output {str(path)!r} exists; pass overwrite=True to replace it, or another path."
        )
    if not path.parent.is_dir():
        raise ValueError(f"The folder of output {str(path)!r} does not exist; create it first.")
    return path
