"""Control cells grouped by context, the sources that flows start from."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


def bounded_per_context(contexts: np.ndarray, most: int, seed: int = 0) -> np.ndarray:
    """Positions of at most ``most`` cells of each context (a random sample beyond it).

    Returns the kept positions in increasing order; contexts with ``most`` cells or fewer keep
    all of theirs, so that a pool below the bound is unchanged.
    """
    contexts = np.asarray(contexts, dtype=np.int64)
    rng = np.random.default_rng(seed)
    kept = []
    for context in np.unique(contexts):
        members = np.flatnonzero(contexts == context)
        if len(members) > most:
            members = rng.choice(members, size=most, replace=False)
        kept.append(members)
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


class ControlPool(NamedTuple):
    """Control cells (model space) sorted by context, with where each context's cells lie.

    Context ``c`` draws from ``states[start[c] : start[c] + count[c]]``. A context without
    controls of its own points at the controls of its cell type, or at every control when its
    cell type has none.
    """

    states: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor

    @classmethod
    def build(
        cls, states: torch.Tensor, contexts: np.ndarray, n_contexts: int, n_cell_types: int
    ) -> ControlPool:
        """Group control cells by context.

        Parameters
        ----------
        states
            Model-space states of the control cells, ``(n_controls, D)``.
        contexts
            Mixed-radix context index of each control cell; the cell type is its leading
            digit, so that the contexts of one cell type are contiguous.
        n_contexts
            Number of contexts.
        n_cell_types
            Number of cell types (1 without cell types).
        """
        contexts = np.asarray(contexts, dtype=np.int64)
        order = np.argsort(contexts, kind="stable")
        own_counts = np.bincount(contexts, minlength=n_contexts)
        own_starts = np.concatenate([[0], np.cumsum(own_counts)[:-1]]).astype(np.int64)
        starts, counts = own_starts.copy(), own_counts.copy()
        per_cell_type = n_contexts // n_cell_types
        for context in np.flatnonzero(own_counts == 0):
            first = (context // per_cell_type) * per_cell_type
            in_cell_type = own_counts[first : first + per_cell_type].sum()
            if in_cell_type > 0:
                starts[context], counts[context] = own_starts[first], in_cell_type
            else:
                starts[context], counts[context] = 0, len(contexts)
        return cls(
            states[torch.as_tensor(order, device=states.device)],
            torch.as_tensor(starts, dtype=torch.long),
            torch.as_tensor(counts, dtype=torch.long),
        )

    def sample(
        self,
        contexts: torch.Tensor,
        generator: torch.Generator | None = None,
        uniform: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Draw one control cell of each context (uniformly within its pool).

        ``uniform`` (one number in (0, 1] per draw) replaces the draws of ``generator``, e.g.
        numbers drawn per generated cell.

        Raises
        ------
        RuntimeError
            If the pool is empty.
        """
        device = self.start.device
        contexts = torch.as_tensor(contexts, device=device).long()
        counts = self.count[contexts]
        if len(self.states) == 0 or bool((counts == 0).any()):
            raise RuntimeError("No control cells are stored: train the model first.")
        if uniform is None:
            uniform = torch.rand(len(contexts), generator=generator)
        uniform = torch.as_tensor(uniform, dtype=torch.float32).to(device)
        draws = self.start[contexts] + (uniform * counts).long().clamp_max(counts - 1)
        return self.states[draws.to(self.states.device)]

    def means(self) -> torch.Tensor:
        """Mean control state of each context (of the cells it draws from), ``(n_contexts, D)``."""
        states = self.states.detach().float().cpu()
        cumulative = torch.cat([torch.zeros(1, states.shape[1]), states.cumsum(0)])
        start, count = self.start.cpu(), self.count.cpu()
        sums = cumulative[start + count] - cumulative[start]
        return sums / count.clamp_min(1)[:, None]
