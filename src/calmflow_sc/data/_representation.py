"""Model space: a PCA of the log-normalised expression and its inverse."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from scipy import sparse
from sklearn.decomposition import PCA
from torch import nn

from .._dense import rows_per_block, to_dense
from .._random import cell_uniform_at

#: The lowest level at which a gene is detected: this percentile of its non-zero values.
DETECTION_PERCENTILE = 10.0
#: Values rounded at a time by :meth:`PCARepresentation.keep_zeros` (its scratch memory).
ROUNDING_CHUNK = 1 << 18


def lowest_detected_levels(
    expression: np.ndarray | sparse.spmatrix, percentile: float = DETECTION_PERCENTILE
) -> np.ndarray:
    """Per gene, the ``percentile`` of its non-zero values (0 for a gene never detected).

    In log-normalised data a detected gene has at least one count, so real cells take no
    value between 0 and about this level.
    """
    n_genes = expression.shape[1]
    levels = np.zeros(n_genes)
    if sparse.issparse(expression):
        columns = sparse.csc_matrix(expression)
        for gene in range(n_genes):
            values = columns.data[columns.indptr[gene] : columns.indptr[gene + 1]]
            values = values[values > 0]
            if len(values):
                levels[gene] = np.percentile(values, percentile)
        return levels
    expression = np.asarray(expression)
    for start in range(0, n_genes, 512):
        block = np.asarray(expression[:, start : start + 512], dtype=np.float64)
        detected = (block > 0).any(axis=0)
        with np.errstate(all="ignore"):
            block = np.where(block > 0, block, np.nan)
            if detected.any():
                levels[start : start + 512][detected] = np.nanpercentile(
                    block[:, detected], percentile, axis=0
                )
    return levels


def iterate_dense_rows(
    matrix: np.ndarray | sparse.spmatrix, chunk_size: int | None = None
) -> Iterator[np.ndarray]:
    """Yield dense float32 row blocks of a dense, sparse or on-disk matrix.

    ``chunk_size`` rows at a time; ``None`` sizes blocks by :func:`rows_per_block`.
    """
    chunk_size = chunk_size or rows_per_block(matrix.shape[1])
    for start in range(0, matrix.shape[0], chunk_size):
        block = matrix[start : start + chunk_size]
        block = to_dense(block)
        yield block.astype(np.float32, copy=False)


class PCARepresentation(nn.Module):
    """Principal components of the expression, scaled to unit average variance.

    ``z = (x - mean) @ components.T / scale``, where ``scale`` is the root of the average
    variance of the components, so that the Gaussian source ``N(0, I)`` has the same overall
    scale as the cells. The inverse maps back to every gene, clipped at zero as log-normalised
    expression is non-negative.

    Parameters
    ----------
    n_genes
        Number of genes ``G``.
    n_components
        Number of principal components ``D``.
    """

    def __init__(self, n_genes: int, n_components: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_genes))
        self.register_buffer("components", torch.zeros(n_components, n_genes))
        self.register_buffer("scale", torch.ones(()))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("detection_floor", torch.zeros(n_genes))

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called (or fitted buffers were loaded)."""
        return bool(self.fitted)

    def fit(self, expression: np.ndarray | sparse.spmatrix, seed: int = 0) -> PCARepresentation:
        """Fit the principal components on cells x genes expression.

        Sparse input is never densified as a whole (implicitly centred ARPACK solver), except
        when it asks for as many components as it has genes, which ARPACK cannot give (the
        matrix then has that few columns).
        """
        n_components = self.components.shape[0]
        if sparse.issparse(expression) and n_components >= min(expression.shape):
            expression = expression.toarray()
        if sparse.issparse(expression):
            solver = "arpack"
            expression = sparse.csr_matrix(expression, dtype=np.float64)
        else:
            solver = "full" if min(expression.shape) <= 2000 else "randomized"
            expression = np.asarray(expression, dtype=np.float64)
        pca = PCA(n_components=n_components, svd_solver=solver, random_state=seed)
        pca.fit(expression)
        components = pca.components_
        # fix the sign of each component so that repeated fits agree
        signs = np.sign(components[np.arange(n_components), np.abs(components).argmax(1)])
        components = components * signs[:, None]
        self.mean.copy_(torch.as_tensor(pca.mean_, dtype=torch.float32))
        self.components.copy_(torch.as_tensor(components, dtype=torch.float32))
        self.scale.copy_(
            torch.as_tensor(np.sqrt(pca.explained_variance_.mean()), dtype=torch.float32)
        )
        self.detection_floor.copy_(torch.as_tensor(lowest_detected_levels(expression)))
        self.fitted.fill_(True)
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Saves from before detection floors get floors of zero (their dense predictions)."""
        key = prefix + "detection_floor"
        if key not in state_dict:
            state_dict[key] = torch.zeros_like(self.detection_floor)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def keep_zeros(self, expression: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Round values real cells cannot have to zero or the gene's lowest detected level.

        A value ``v`` between 0 and a gene's lowest detected level ``m``
        (:func:`lowest_detected_levels` of the fitting cells) becomes ``m`` with probability
        ``v / m`` and 0 otherwise, so that the expected value is kept and a small change
        spread over every cell becomes a change in how many cells detect the gene, as in
        real cells. The draws are a function of each row's key (:func:`~calmflow_sc._random.
        cell_keys`) and the gene, whatever the other rows.

        Parameters
        ----------
        expression
            Cells x genes, non-negative; changed in place and returned.
        keys
            One key per row.
        """
        floor = self.detection_floor.cpu().numpy().astype(expression.dtype)
        step = max(1, ROUNDING_CHUNK // max(1, expression.shape[1]))  # bounded scratch memory
        for start in range(0, len(expression), step):
            block = expression[start : start + step]
            rows, genes = np.nonzero((block > 0) & (block < floor))
            if len(rows):
                draws = cell_uniform_at(keys[start + rows], genes, offset=1 << 42)
                up = draws * floor[genes] < block[rows, genes]
                block[rows, genes] = np.where(up, floor[genes], 0.0)
        return expression

    def transform(self, expression: torch.Tensor) -> torch.Tensor:
        """Map expression ``(n, G)`` to model space ``(n, D)``."""
        return (expression - self.mean) @ self.components.T / self.scale

    def to_pca(self, states: torch.Tensor) -> torch.Tensor:
        """Map model-space states to unscaled principal-component coordinates."""
        return states * self.scale

    def inverse_transform(self, states: torch.Tensor) -> torch.Tensor:
        """Map model-space states ``(n, D)`` back to expression of every gene ``(n, G)``."""
        return (self.to_pca(states) @ self.components + self.mean).clamp_min(0.0)

    def move(
        self, expression: torch.Tensor, start: torch.Tensor, end: torch.Tensor
    ) -> torch.Tensor:
        """Move cells by the model-space displacement ``end - start``, keeping the rest.

        The part of each cell's expression outside the principal subspace (detail the model
        does not describe) is kept as it is; the result is clipped at zero.

        Parameters
        ----------
        expression
            Expression of the starting cells ``(n, G)``.
        start, end
            Their model-space states before and after the flow, ``(n, D)``.
        """
        return (expression + self.to_pca(end - start) @ self.components).clamp_min(0.0)

    def transform_matrix(
        self, expression: np.ndarray | sparse.spmatrix, chunk_size: int | None = None
    ) -> torch.Tensor:
        """Map a dense or sparse cells x genes matrix to model space, in row chunks."""
        device = self.mean.device
        blocks = [
            self.transform(torch.as_tensor(block, device=device))
            for block in iterate_dense_rows(expression, chunk_size)
        ]
        return torch.cat(blocks) if blocks else torch.zeros(0, self.components.shape[0])
