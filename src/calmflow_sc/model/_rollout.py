"""Flows rolled out for conditions, and their decoding into gene space."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._expression import check_expression
from .._random import cell_normal
from ..data import iterate_dense_rows
from ..data._representation import rows_per_block
from ..data._validation import check_query_genes
from ._prediction_sink import DenseSink, H5adSink, SparseSink


class RolloutMixin:
    """Rolling flows out for conditions and decoding them to gene space.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    def _check_ready(self) -> None:
        """Refuse to predict with an untrained model (scvi-tools' check, as an error)."""
        self._check_if_trained(
            warn=False,
            message="The model is not trained yet: call model.train() before predicting.",
        )

    def _check_query(self, adata: AnnData) -> None:
        if not isinstance(adata, AnnData):
            raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
        if adata.n_obs == 0:
            raise ValueError("The AnnData to predict has no cells.")
        check_query_genes(adata, self.var_names_)
        check_expression(adata, self._layer)

    def _rollout_conditions(
        self,
        conditions: pd.DataFrame,
        sources: torch.Tensor | None,
        temperature: float,
        generator: torch.Generator,
        batch_size: int,
        use_cache: bool = True,
        noise_keys: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Final states ``x_K`` (model space) for cells described by ``conditions``.

        Flows from control cells under no perturbation are the identity: those cells are
        returned as they are. With ``noise_keys`` (one per cell, from
        :func:`calmflow_sc._random.cell_keys`)
        each cell's noise is drawn from its own key, so that it does not depend on the other
        cells, their order or ``batch_size``; otherwise from ``generator``.
        """
        module = self.module
        module.eval()
        device = module.representation.mean.device
        keys = conditions[self.prompt_builder.condition_keys].astype(str)
        groups = pd.MultiIndex.from_frame(keys).factorize()[0]
        moving = np.ones(len(conditions), dtype=bool)
        if module.source == "control":
            builder = self.prompt_builder
            moving = conditions[builder.perturbation_key].astype(str) != builder.control_value
            moving = moving.to_numpy()
        n_traj = module.n_trajectories
        sequences = []
        for group in range(groups.max() + 1 if len(groups) else 0):
            members = np.flatnonzero((groups == group) & moving)
            if len(members) == 0:
                continue
            fill = -len(members) % n_traj
            padded = np.concatenate([members, np.repeat(members[-1:], fill)])
            sequences.extend(padded.reshape(-1, n_traj))
        sequences = np.asarray(sequences, dtype=np.int64).reshape(-1, n_traj)
        n_latent = module.n_steps * module.n_spatial_tokens * module.head.n_latent
        if sources is None and noise_keys is not None:
            sources = torch.as_tensor(cell_normal(noise_keys, module.n_components, offset=1 << 40))
        elif sources is None:
            sources = torch.randn(len(conditions), module.n_components, generator=generator)
        final = sources.clone().float()
        for start in range(0, len(sequences), batch_size):
            chunk = sequences[start : start + batch_size]
            prompt_ids, prompt_mask = self._prompt_inputs(conditions.iloc[chunk[:, 0]])
            noise = {}
            if noise_keys is not None:
                cells = noise_keys[chunk.ravel()]
                rows, steps = chunk.shape[0], module.n_steps
                latent = cell_normal(cells, n_latent).reshape(rows, n_traj, steps, -1)
                shape = (rows, steps, n_traj, module.n_spatial_tokens, module.head.n_latent)
                noise["latent_noise"] = torch.as_tensor(latent).transpose(1, 2).reshape(shape)
                if module.uses_path_noise:
                    path = cell_normal(cells, steps * module.n_components, offset=n_latent)
                    path = torch.as_tensor(path).reshape(rows, n_traj, steps, -1)
                    noise["path_noise"] = path.transpose(1, 2)
            states = module.rollout(
                prompt_ids.to(device),
                prompt_mask.to(device),
                sources[torch.as_tensor(chunk)].to(device),
                temperature=temperature,
                generator=generator,
                use_cache=use_cache,
                **noise,
            )
            final[torch.as_tensor(chunk.ravel())] = (
                states[:, -1].reshape(-1, states.shape[-1]).float().cpu()
            )
        return final

    def _to_outputs(
        self,
        states: list[torch.Tensor],
        sink: DenseSink | SparseSink | H5adSink,
        sources: torch.Tensor | None = None,
        expression: Any = None,
        chunk_size: int | None = None,
    ) -> np.ndarray:
        """Average samples into gene-space expression, written to ``sink`` block by block.

        With ``sources`` and the starting cells' ``expression``, each cell is moved by its
        flow's displacement and keeps the detail outside the principal subspace; otherwise
        states are mapped back through the inverse PCA. Memory holds one block of
        ``chunk_size`` cells in gene space (``None``: about 4 million values), whatever the
        number of cells.

        Returns
        -------
        The PCA coordinates, averaged over the samples.

        Raises
        ------
        FloatingPointError
            If any prediction is not finite (checked on every block before it is written).
        """
        representation = self.module.representation
        device = representation.mean.device
        n_cells = states[0].shape[0]
        chunk_size = chunk_size or rows_per_block(representation.mean.shape[0])
        with torch.no_grad():
            coordinates = torch.stack([representation.to_pca(s.to(device)).cpu() for s in states])
        coordinates = coordinates.mean(0).numpy().astype(np.float32)
        bad = ~np.isfinite(coordinates).all(axis=1)
        blocks = iterate_dense_rows(expression, chunk_size) if expression is not None else None
        with torch.no_grad():
            for start in range(0, n_cells, chunk_size):
                rows = slice(start, start + chunk_size)
                if blocks is not None:
                    cells = torch.as_tensor(next(blocks), device=device)
                    decoded = [
                        representation.move(cells, sources[rows].to(device), s[rows].to(device))
                        for s in states
                    ]
                else:
                    decoded = [representation.inverse_transform(s[rows].to(device)) for s in states]
                block = torch.stack(decoded).mean(0).cpu().numpy()
                bad[rows] |= ~np.isfinite(block).all(axis=1)
                if not bad.any():
                    sink.write(start, block)
        if bad.any():
            raise FloatingPointError(
                f"The predictions of {int(bad.sum())} of {n_cells} cells are not finite; "
                "nothing was written. The model's weights or the input are broken: check that "
                "training ended without errors (model.history_) and that the input is "
                "log-normalised."
            )
        return coordinates
