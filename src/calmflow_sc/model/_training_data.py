"""What a CaLMFlowPerturb trains on: model space, control pool, coupling and the split."""

from __future__ import annotations

import warnings

import numpy as np
import scvi
import torch

from .._anndata import readable, sample_rows
from .._constants import REGISTRY_KEYS
from ..data import Coupling, SequenceBuilder, bounded_per_context
from ..module import VARIANT_WEIGHTS, refresh_prior_inputs

#: The PCA is fitted on at most this many training cells (a random sample beyond it), so that
#: its memory does not grow with the data.
PCA_MAX_CELLS = 50_000
#: The model stores at most this many control cells of each context (cell type and
#: covariates; a random sample beyond it) to start flows from, so that it does not grow with
#: the data.
CONTROL_POOL_MAX_PER_CONTEXT = 20_000


class TrainingDataMixin:
    """The training data in model space: PCA, control pool, coupling, sequences and split.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb` (through its training mixin).
    """

    def _fit_to_training_cells(
        self, left_out_rows: np.ndarray | None = None
    ) -> tuple[SequenceBuilder, np.ndarray]:
        """Fit the PCA (once), store the control cells, map every cell to model space.

        ``left_out_rows`` are condition-table rows held out: no flow leads to their cells, and
        neither the PCA nor the condition prior sees them.

        Returns
        -------
        The builder of training sequences, and the indices of the cells the flows lead to:
        every cell, or with ``source="control"`` the perturbed cells (a flow from controls to
        controls is the identity and would teach the model that a cell type's own cells never
        move).
        """
        manager = self.adata_manager
        module = self.module
        expression = readable(manager.get_from_registry(REGISTRY_KEYS.X_KEY))
        representation = module.representation
        is_control, conditions, contexts = self.condition_space.registered_conditions(manager)
        kept = ~np.isin(conditions, [] if left_out_rows is None else left_out_rows)
        if not representation.is_fitted:
            if kept.all():
                representation.fit(sample_rows(expression, PCA_MAX_CELLS, seed=0))
            else:  # a sample of the kept cells, read in increasing order
                rows = np.flatnonzero(kept)
                if len(rows) > PCA_MAX_CELLS:
                    rng = np.random.default_rng(0)
                    rows = np.sort(rng.choice(rows, PCA_MAX_CELLS, replace=False))
                representation.fit(expression[rows])
        with torch.no_grad():
            states = representation.transform_matrix(expression).float().cpu()
        if module.source == "control":
            self._warn_contexts_without_controls(contexts, is_control)
        controls = np.flatnonzero(is_control)
        controls = controls[bounded_per_context(contexts[controls], CONTROL_POOL_MAX_PER_CONTEXT)]
        module.set_control_pool(states[torch.as_tensor(controls)], contexts[controls])
        variant_weights = None
        if module.condition_prior is not None:
            # states of the kept cells only (no copy when none is left out)
            seen = states if kept.all() else states[torch.as_tensor(np.flatnonzero(kept))]
            module.condition_prior.fit(seen, conditions[kept], module.control_pool.means())
            refresh_prior_inputs(module)
            variant_weights = VARIANT_WEIGHTS
        targets = np.flatnonzero(~is_control & kept) if module.source == "control" else None
        coupling = None
        if targets is not None and self.pairing == "condition":
            coupling = Coupling.fit(
                states,
                conditions,
                contexts,
                targets,
                module.control_pool,
                seed=int(scvi.settings.seed or 0),
            )
        builder = SequenceBuilder(
            states=states,
            conditions=conditions,
            contexts=contexts,
            pool=module.control_pool if module.source == "control" else None,
            n_steps=module.n_steps,
            n_trajectories=module.n_trajectories,
            path_sigma=module.path_sigma,
            coupling=coupling,
            variant_weights=variant_weights,
            n_conditions=len(module.prompt_inputs),
        )
        if targets is not None:
            return builder, targets
        return builder, np.flatnonzero(kept)

    def _warn_contexts_without_controls(self, contexts: np.ndarray, is_control: np.ndarray):
        """Name the cell types (and covariate groups) whose flows must borrow controls."""
        lacking = np.setdiff1d(np.unique(contexts[~is_control]), contexts[is_control])
        if len(lacking) == 0:
            return
        keys = self.condition_space.context_keys
        obs = self._as_anndata(self.adata).obs
        if keys:
            unique, first = np.unique(contexts, return_index=True)  # a cell of each context
            first = dict(zip(unique.tolist(), first.tolist(), strict=True))
            names = [
                ", ".join(f"{key}={obs[key].iloc[first[int(c)]]}" for key in keys) for c in lacking
            ]
        else:
            names = ["all cells"]
        warnings.warn(
            f"{len(lacking)} group(s) have perturbed cells but no control cells: "
            f"{names[:5]}. Their flows start from control cells of the same cell type, or "
            "else from any control cell; add their controls, or use source='gaussian'.",
            UserWarning,
            stacklevel=3,
        )

    @staticmethod
    def _split(targets: np.ndarray, n_obs: int, train_size: float | None) -> list[np.ndarray]:
        """Training / validation split of the target cells (scvi-tools' seed).

        Cells that are no target (controls, with ``source="control"``) form the unused test
        set, as scvi-tools' splitter wants every cell in some set.
        """
        train_size = 0.9 if train_size is None else float(train_size)
        if not 0.0 < train_size <= 1.0:
            raise ValueError(f"train_size must be in (0, 1], got {train_size}.")
        shuffled = np.random.default_rng(scvi.settings.seed).permutation(targets)
        n_train = max(1, int(np.ceil(train_size * len(shuffled))))
        rest = np.setdiff1d(np.arange(n_obs), targets)
        return [shuffled[:n_train], shuffled[n_train:], rest]
