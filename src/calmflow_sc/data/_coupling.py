"""Optimal-transport couplings of every condition's cells with their control cells."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import ot
import torch

from ._control_pool import ControlPool


class Coupling(NamedTuple):
    """For each cell, the control cells it is coupled with and their weights (CSR rows).

    Row ``i`` lists, in ``partners[indptr[i] : indptr[i + 1]]``, positions in the control
    pool's ``states``, with cumulative weights in ``cumulative`` (ending at 1). Cells that are
    not targets have empty rows.
    """

    indptr: np.ndarray
    partners: np.ndarray
    cumulative: np.ndarray

    @classmethod
    def fit(
        cls,
        states: torch.Tensor,
        conditions: np.ndarray,
        contexts: np.ndarray,
        targets: np.ndarray,
        pool: ControlPool,
        max_cells: int = 2048,
        seed: int = 0,
    ) -> Coupling:
        """Exact optimal transport between each condition's targets and its context's controls.

        Minibatch pairing only sees the few cells of a condition that share a minibatch; with
        many conditions those few are paired almost at random, and a model that reads its
        source learns to map every control cell to the condition's mean. Here all target
        cells of a condition are coupled with all control cells of its context at once
        (squared Euclidean cost, uniform weights; POT's exact solver). Groups larger than
        ``max_cells`` are split at random into chunks, each coupled with a random subset of
        the controls of that size.

        Parameters
        ----------
        states
            Model-space states of every cell, ``(n_cells, D)``.
        conditions
            Condition of every cell.
        contexts
            Context of every cell (which controls it may start from).
        targets
            The cells to couple.
        pool
            The control cells, by context.
        max_cells
            Largest number of cells on either side of one transport problem.
        seed
            Seed of the chunking and subsampling of large groups.

        Returns
        -------
        The coupling of every cell (empty rows for non-targets).
        """
        rng = np.random.default_rng(seed)
        n_cells = len(conditions)
        targets = np.asarray(targets, dtype=np.int64)
        control_states = pool.states.detach().float().cpu().numpy().astype(np.float64)
        states = states.detach().float().cpu()  # read per chunk, not copied whole
        starts, counts = pool.start.cpu().numpy(), pool.count.cpu().numpy()
        rows: list[np.ndarray] = [np.zeros(0, np.int64)] * n_cells
        weights: list[np.ndarray] = [np.zeros(0)] * n_cells
        for condition in np.unique(conditions[targets]):
            members = targets[conditions[targets] == condition]
            context = int(contexts[members[0]])
            controls = starts[context] + np.arange(counts[context])
            n_chunks = int(np.ceil(len(members) / max_cells))
            for chunk in np.array_split(rng.permutation(members), n_chunks):
                sources = controls
                if len(sources) > max_cells:
                    sources = np.sort(rng.choice(controls, size=max_cells, replace=False))
                chunk_states = states[torch.as_tensor(chunk)].numpy().astype(np.float64)
                plan = _exact_plan(chunk_states, control_states[sources])
                for position, cell in enumerate(chunk):
                    nonzero = np.flatnonzero(plan[position] > 0)
                    rows[cell] = sources[nonzero]
                    weights[cell] = plan[position, nonzero]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        partners = np.concatenate(rows) if n_cells else np.zeros(0, np.int64)
        cumulative = (
            np.concatenate([np.cumsum(w) / w.sum() if len(w) else w for w in weights])
            if n_cells
            else np.zeros(0)
        )
        return cls(indptr, partners.astype(np.int64), cumulative)

    def sample(self, cells: np.ndarray, generator: torch.Generator | None = None) -> np.ndarray:
        """Draw a partner of each cell according to its coupling weights.

        Raises
        ------
        ValueError
            If a cell has no partner (it was not a target of the coupling).
        """
        cells = np.asarray(cells, dtype=np.int64)
        start, stop = self.indptr[cells], self.indptr[cells + 1]
        if bool((stop <= start).any()):
            raise ValueError("Some cells have no coupled control cell; they were not targets.")
        uniform = torch.rand(len(cells), generator=generator).numpy()
        chosen = np.empty(len(cells), dtype=np.int64)
        for i, (first, last, value) in enumerate(zip(start, stop, uniform, strict=True)):
            offset = np.searchsorted(self.cumulative[first:last], value, side="right")
            chosen[i] = self.partners[first + min(offset, last - first - 1)]
        return chosen


def _exact_plan(target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Exact OT plan between uniform target and source samples, ``(n_target, n_source)``."""
    cost = ot.dist(target, source)
    weights_target = np.full(len(target), 1.0 / len(target))
    weights_source = np.full(len(source), 1.0 / len(source))
    plan = ot.emd(weights_target, weights_source, cost, numItermax=10_000_000)
    plan[plan < 1e-12 * plan.max()] = 0.0
    return plan
