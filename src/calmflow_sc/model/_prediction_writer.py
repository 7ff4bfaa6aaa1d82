"""Where predictions go: a dense or sparse layer, a streamed ``.h5ad`` file, or a new AnnData.

:class:`PredictionWriter` writes a :class:`~calmflow_sc.model._predictor.Prediction` block by
block through one of three sinks (:class:`DenseSink`, :class:`SparseSink`, :class:`H5adSink`),
into an AnnData (or a MuData's expression modality) or into a new AnnData it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import anndata
import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

from .._anndata import write_elem
from .._outputs import check_output_keys, record_outputs
from ._predictor import Prediction

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
    :meth:`finish`, the coordinates in ``obsm`` and the parameters in ``uns``. It is written to
    a temporary name and moved into place when finished, so that an interrupted prediction leaves no half-written file under ``path``.

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


class PredictionWriter:
    """Write predictions under ``key_added``: checked before any work, written after it.

    Parameters
    ----------
    key_added
        Name of the outputs: ``layers[key_added]``, ``obsm["X_" + key_added]`` and
        ``uns[key_added + "_params"]``.
    output
        ``"dense"``, ``"sparse"``, or the path of the ``.h5ad`` file to stream the gene-space
        predictions to (checked by :func:`check_output`).
    into
        The AnnData to write into (an AnnData, or a MuData's expression modality); ``None``
        returns a new AnnData instead.
    protected_layer
        The layer the model reads its input from, never replaced without ``overwrite``.
    overwrite
        Allow ``key_added`` to replace what a prediction did not write.
    copy_to_layer
        Also keep the expression in ``layers[key_added]`` of a returned AnnData (beside
        ``X``).

    Raises
    ------
    ValueError
        If ``key_added`` would replace data of ``into`` that no prediction wrote.
    """

    def __init__(
        self,
        key_added: str,
        output: str | Path = "dense",
        into: AnnData | None = None,
        protected_layer: str | None = None,
        overwrite: bool = False,
        copy_to_layer: bool = True,
    ):
        if into is not None:
            check_output_keys(
                into,
                key_added,
                layer=key_added,
                obsm=f"X_{key_added}",
                protected_layer=protected_layer,
                overwrite=overwrite,
            )
        self.key_added = key_added
        self.output = output
        self.into = into
        self.copy_to_layer = copy_to_layer
        #: Column positions that put a prediction (training gene order) into ``into``'s order.
        self.gene_order: np.ndarray | None = None

    def write(
        self,
        prediction: Prediction,
        obs: pd.DataFrame,
        var: pd.DataFrame,
        params: dict | None = None,
        treatment: dict[str, object] | None = None,
    ) -> AnnData | None:
        """Write ``prediction`` and return the new AnnData (``None`` when writing ``into``).

        Parameters
        ----------
        prediction
            What to write; its blocks are read once.
        obs, var
            Annotations of the predicted cells and of the genes (copied where written).
        params
            The arguments of the call, for ``uns[key_added + "_params"]``.
        treatment
            Columns set on the predicted cells' ``obs`` (the perturbation, the dose); a
            column the cells had keeps its value under ``"source_" + column``.

        Returns
        -------
        A new AnnData with the expression in ``X`` (with a file ``output``, that file opened
        ``backed="r"``); ``None`` when writing ``into``.
        """
        if isinstance(self.output, Path):
            return self._stream(self.output, prediction, obs, var, params, treatment)
        sink = SparseSink if self.output == "sparse" else DenseSink
        values = _drain(prediction, sink(*prediction.shape)).result()
        key = self.key_added
        if self.into is None:
            return AnnData(
                X=values,
                obs=predicted_obs(obs, treatment),
                var=var.copy(),
                layers={key: values} if self.copy_to_layer else None,
                obsm={f"X_{key}": prediction.coordinates},
                uns={f"{key}_params": params} if params is not None else None,
            )
        record_outputs(self.into, key, f"X_{key}")
        self.into.layers[key] = values if self.gene_order is None else values[:, self.gene_order]
        self._annotate(prediction.coordinates, params)
        return None

    def _stream(
        self,
        path: Path,
        prediction: Prediction,
        obs: pd.DataFrame,
        var: pd.DataFrame,
        params: dict | None,
        treatment: dict[str, object] | None,
    ) -> AnnData | None:
        """Stream the expression to ``path``; an interrupted stream leaves no file."""
        key = self.key_added
        params = {**(params or {}), "output": str(path)}
        sink = H5adSink(path, *prediction.shape)
        try:
            _drain(prediction, sink).finish(
                predicted_obs(obs, treatment),
                var.copy(),
                {f"X_{key}": prediction.coordinates},
                {f"{key}_params": params},
            )
        except BaseException:
            sink.abort()
            raise
        if self.into is None:
            return anndata.read_h5ad(path, backed="r")
        record_outputs(self.into, obsm=f"X_{key}")
        self._annotate(prediction.coordinates, params)
        return None

    def _annotate(self, coordinates: np.ndarray, params: dict | None) -> None:
        """Write the coordinates and parameters into ``into``."""
        self.into.obsm[f"X_{self.key_added}"] = coordinates
        if params is not None:
            self.into.uns[f"{self.key_added}_params"] = params


Sink = TypeVar("Sink", DenseSink, SparseSink, H5adSink)


def _drain(prediction: Prediction, sink: Sink) -> Sink:
    """Write every block of ``prediction`` to ``sink``, and return the sink."""
    for start, block in prediction.blocks:
        sink.write(start, block)
    return sink


def predicted_obs(obs: pd.DataFrame, treatment: dict[str, object] | None) -> pd.DataFrame:
    """A copy of ``obs`` under ``treatment``, the cells' own values kept as ``source_<column>``."""
    obs = obs.copy()
    for key, value in (treatment or {}).items():
        if key in obs:  # the source cells' own label stays beside the predicted one
            obs[f"source_{key}"] = obs[key]
        obs[key] = value
    return obs
