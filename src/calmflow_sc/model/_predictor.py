"""Predictions computed block by block: flows rolled out for conditions, decoded to gene space.

Nothing here writes: :class:`Predictor` returns a :class:`Prediction` (model-space coordinates,
and gene-space blocks made on demand) that :class:`~calmflow_sc.model._prediction_writer.
PredictionWriter` writes where the caller asked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from .._dense import rows_per_block
from .._random import cell_keys, cell_normal, cell_uniform
from ..data import PCARepresentation, PromptBuilder, iterate_dense_rows
from ..module import CaLMFlowModule

#: Maps a frame of conditions to the prompt's token ids and mask (the model's ``condition_prompts``).
PromptInputs = Callable[[pd.DataFrame], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Prediction:
    """Predicted cells, computed but not yet written.

    Attributes
    ----------
    coordinates
        Principal-component coordinates ``(n_cells, n_components)``, float32, averaged over
        the samples.
    blocks
        Gene-space expression, ``(start, rows)`` pairs in row order, each block computed when
        it is asked for (iterate once). Blocks stop at the first cell whose prediction is not
        finite, and the iterator then raises :class:`FloatingPointError` after the last block.
    n_genes
        Number of genes of a block's rows.
    source_coordinates
        Coordinates of the cells the flows started from (``None``: not known).
    """

    coordinates: np.ndarray
    blocks: Iterator[tuple[int, np.ndarray]]
    n_genes: int
    source_coordinates: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Cells x genes of the gene-space expression."""
        return len(self.coordinates), self.n_genes


@dataclass(frozen=True)
class Predictor:
    """Roll flows out for conditions and decode them to gene space.

    Parameters
    ----------
    module
        The trained module.
    builder
        The model's prompt builder: which columns tell conditions apart, and the control value.
    prompt_inputs
        Token ids and mask of the prompts of a frame of conditions.
    temperature
        Inference temperature ``tau``.
    batch_size
        Sequences rolled out at once.
    use_cache
        Use the key/value cache during rollout.
    """

    module: CaLMFlowModule
    builder: PromptBuilder
    prompt_inputs: PromptInputs
    temperature: float
    batch_size: int
    use_cache: bool = True

    def predict(
        self,
        conditions: pd.DataFrame,
        expression: Any,
        seed: int,
        n_samples: int,
        decoding: str,
        keep_zeros: bool = True,
    ) -> Prediction:
        """Each given cell under ``conditions``, averaged over ``n_samples`` samples.

        Parameters
        ----------
        conditions
            One row per cell, indexed by the cells' names, with the condition columns.
        expression
            The cells' expression (dense, sparse or on disk), where their flows start with
            ``source="control"``; ``None`` with ``source="gaussian"``.
        seed
            Seed of the noise; each cell's noise is drawn from the seed and its name.
        n_samples
            Samples per cell.
        decoding
            ``"residual"`` or ``"pca"`` (see :meth:`~calmflow_sc.CaLMFlowPerturb.predict`).
        keep_zeros
            Round values real cells cannot have to zero or the gene's lowest detected level
            (:meth:`~calmflow_sc.data.PCARepresentation.keep_zeros`).
        """
        generator = torch.Generator().manual_seed(seed)
        sources = None
        if self.module.source == "control":
            with torch.no_grad():
                sources = self.module.representation.transform_matrix(expression).cpu()
        states = [
            self.rollout(
                conditions,
                sources,
                generator,
                noise_keys=cell_keys(conditions.index, seed, stream=sample),
            )
            for sample in range(n_samples)
        ]
        kept = expression if decoding == "residual" else None
        keys = cell_keys(conditions.index, seed, stream=n_samples) if keep_zeros else None
        prediction = decode(self.module.representation, states, sources, kept, keys=keys)
        if sources is not None:
            with torch.no_grad():
                representation = self.module.representation
                start = representation.to_pca(sources.to(representation.mean.device))
            prediction.source_coordinates = start.float().cpu().numpy()
        return prediction

    def generate(
        self, conditions: pd.DataFrame, seed: int, contexts: np.ndarray | None = None
    ) -> Prediction:
        """One new cell per row of ``conditions``.

        Parameters
        ----------
        conditions
            One row per cell, with the condition columns; the index labels name the cells.
        seed
            Seed of the noise; each row's noise is drawn from the seed and its index label.
        contexts
            With ``source="control"``: each row's context index (cell type and covariates;
            :meth:`~calmflow_sc.data.ConditionSpace.context_index`), whose training control
            cells the flows start from.
        """
        generator = torch.Generator().manual_seed(seed)
        keys = cell_keys([str(name) for name in conditions.index], seed)
        sources = None if contexts is None else control_sources(self.module, contexts, keys)
        states = self.rollout(conditions, sources, generator, noise_keys=keys)
        return decode(self.module.representation, [states], keys=keys)

    def rollout(
        self,
        conditions: pd.DataFrame,
        sources: torch.Tensor | None,
        generator: torch.Generator,
        noise_keys: np.ndarray,
    ) -> torch.Tensor:
        """Final states ``x_K`` (model space) for cells described by ``conditions``.

        Flows from control cells under no perturbation are the identity: those cells are
        returned as they are. Each cell's noise is drawn from its own key in ``noise_keys``
        (from :func:`calmflow_sc._random.cell_keys`), so that it does not depend on the other
        cells, their order or ``batch_size``; ``sources=None`` draws the starting states too.
        """
        module, builder = self.module, self.builder
        module.eval()
        device = module.representation.mean.device
        keys = conditions[builder.condition_keys].astype(str)
        groups = pd.MultiIndex.from_frame(keys).factorize()[0]
        moving = np.ones(len(conditions), dtype=bool)
        if module.source == "control":
            moving = conditions[builder.perturbation_key].astype(str) != builder.control_value
            moving = moving.to_numpy()
        sequences = _sequences(groups, moving, module.n_trajectories)
        if sources is None:
            sources = torch.as_tensor(cell_normal(noise_keys, module.n_components, offset=1 << 40))
        final = sources.clone().float()
        for start in range(0, len(sequences), self.batch_size):
            chunk = sequences[start : start + self.batch_size]
            prompt_ids, prompt_mask = self.prompt_inputs(conditions.iloc[chunk[:, 0]])
            states = module.rollout(
                prompt_ids.to(device),
                prompt_mask.to(device),
                sources[torch.as_tensor(chunk)].to(device),
                temperature=self.temperature,
                generator=generator,
                use_cache=self.use_cache,
                **_cell_noise(module, noise_keys[chunk.ravel()], chunk.shape[0]),
            )
            final[torch.as_tensor(chunk.ravel())] = (
                states[:, -1].reshape(-1, states.shape[-1]).float().cpu()
            )
        return final


def _sequences(groups: np.ndarray, moving: np.ndarray, n_traj: int) -> np.ndarray:
    """Rows of ``n_traj`` cells of one condition, the last padded with its last cell."""
    sequences = []
    for group in range(groups.max() + 1 if len(groups) else 0):
        members = np.flatnonzero((groups == group) & moving)
        if len(members) == 0:
            continue
        fill = -len(members) % n_traj
        padded = np.concatenate([members, np.repeat(members[-1:], fill)])
        sequences.extend(padded.reshape(-1, n_traj))
    return np.asarray(sequences, dtype=np.int64).reshape(-1, n_traj)


def _cell_noise(module: CaLMFlowModule, cells: np.ndarray, rows: int) -> dict[str, torch.Tensor]:
    """The latent (and bridge) noise of ``rows`` sequences, drawn from each cell's key."""
    n_traj, steps = module.n_trajectories, module.n_steps
    n_latent = steps * module.n_spatial_tokens * module.head.n_latent
    latent = cell_normal(cells, n_latent).reshape(rows, n_traj, steps, -1)
    shape = (rows, steps, n_traj, module.n_spatial_tokens, module.head.n_latent)
    noise = {"latent_noise": torch.as_tensor(latent).transpose(1, 2).reshape(shape)}
    if module.uses_path_noise:
        path = cell_normal(cells, steps * module.n_components, offset=n_latent)
        path = torch.as_tensor(path).reshape(rows, n_traj, steps, -1)
        noise["path_noise"] = path.transpose(1, 2)
    return noise


def control_sources(module: CaLMFlowModule, contexts: np.ndarray, keys: np.ndarray) -> torch.Tensor:
    """A training control cell of each row's context, drawn from the row's key (model space)."""
    with torch.no_grad():
        contexts = torch.as_tensor(contexts, device=module.control_start.device)
        uniform = torch.as_tensor(cell_uniform(keys, 1, offset=1 << 41)[:, 0])
        return module.sample_controls(contexts, uniform=uniform).float().cpu()


def decode(
    representation: PCARepresentation,
    states: list[torch.Tensor],
    sources: torch.Tensor | None = None,
    expression: Any = None,
    chunk_size: int | None = None,
    keys: np.ndarray | None = None,
) -> Prediction:
    """Average samples of final states into coordinates and gene-space blocks.

    With ``sources`` and the starting cells' ``expression``, each cell is moved by its
    flow's displacement and keeps the detail outside the principal subspace; otherwise
    states are mapped back through the inverse PCA. A block holds ``chunk_size`` cells in
    gene space (``None``: about 4 million values), whatever the number of cells.

    Parameters
    ----------
    representation
        The model's PCA.
    states
        Final states ``(n_cells, n_components)``, one tensor per sample.
    sources
        Where each cell's flow started (model space), for the residual decoding.
    expression
        The starting cells' expression, for the residual decoding; ``None``: inverse PCA.
    chunk_size
        Cells per block.
    keys
        One key per cell: the values real cells cannot have are rounded with draws of these
        (:meth:`~calmflow_sc.data.PCARepresentation.keep_zeros`); ``None`` keeps them.
    """
    device = representation.mean.device
    n_genes = representation.mean.shape[0]
    with torch.no_grad():
        coordinates = torch.stack([representation.to_pca(s.to(device)).cpu() for s in states])
    coordinates = coordinates.mean(0).numpy().astype(np.float32)
    bad = ~np.isfinite(coordinates).all(axis=1)
    blocks = _gene_blocks(
        representation,
        states,
        sources,
        expression,
        chunk_size or rows_per_block(n_genes),
        bad,
        keys,
    )
    return Prediction(coordinates, blocks, n_genes)


def _gene_blocks(
    representation: PCARepresentation,
    states: list[torch.Tensor],
    sources: torch.Tensor | None,
    expression: Any,
    chunk_size: int,
    bad: np.ndarray,
    keys: np.ndarray | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Gene-space blocks while every prediction is finite; raise at the end if one is not."""
    device = representation.mean.device
    n_cells = states[0].shape[0]
    cells = iterate_dense_rows(expression, chunk_size) if expression is not None else None
    for start in range(0, n_cells, chunk_size):
        rows = slice(start, start + chunk_size)
        with torch.no_grad():
            if cells is not None:
                given = torch.as_tensor(next(cells), device=device)
                decoded = [
                    representation.move(given, sources[rows].to(device), s[rows].to(device))
                    for s in states
                ]
            else:
                decoded = [representation.inverse_transform(s[rows].to(device)) for s in states]
            block = torch.stack(decoded).mean(0).cpu().numpy()
        bad[rows] |= ~np.isfinite(block).all(axis=1)
        if keys is not None and not bad.any():
            block = representation.keep_zeros(block, keys[rows])
        if not bad.any():
            yield start, block
    if bad.any():
        raise FloatingPointError(
            f"The predictions of {int(bad.sum())} of {n_cells} cells are not finite; "
            "nothing was written. The model's weights or the input are broken: check that "
            "training ended without errors (model.history_) and that the input is "
            "log-normalised."
        )
