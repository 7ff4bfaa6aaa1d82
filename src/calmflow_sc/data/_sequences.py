"""Training sequences: targets paired with sources, paths between them, packed by condition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ._control_pool import ControlPool
from ._coupling import Coupling
from ._packing import pack_trajectories
from ._pairing import pair_within_groups
from ._paths import sample_paths


@dataclass
class SequenceBuilder:
    """Turn a minibatch of target cells into the model's training sequences.

    For each target ``x_1`` a source ``x_0`` is drawn: a control cell of the same context
    (``pool`` given), drawn from the target's optimal-transport ``coupling`` with all of its
    context's controls, or, without a coupling, drawn at random and paired with the targets of
    its condition by exact optimal transport within the minibatch; or standard normal noise
    (``pool`` is ``None``). The path between them is
    discretised on ``n_steps + 1`` time points, and trajectories of one condition are packed
    ``n_trajectories`` to a sequence.

    Parameters
    ----------
    states
        Model-space states of every registered cell, ``(n_cells, D)``.
    conditions
        Condition (prompt row) of every cell.
    contexts
        Context index (cell type and covariates) of every cell.
    pool
        Control cells to start from; ``None`` starts from Gaussian noise.
    n_steps
        Number ``K`` of transitions.
    n_trajectories
        Number ``P`` of trajectories per sequence.
    path_sigma
        Scale of the Brownian-bridge noise of the paths.
    coupling
        Coupling of every target with the control pool (:meth:`Coupling.fit`); ``None``
        pairs within each minibatch.
    variant_weights
        The probability of each variant of a condition (e.g. read as measured or as if
        unmeasured), drawn per target: its sequence reads row ``condition + v n_conditions``.
    n_conditions
        Number of conditions (rows of the prompt table), with ``variant_weights``.
    """

    states: torch.Tensor
    conditions: np.ndarray
    contexts: np.ndarray
    pool: ControlPool | None
    n_steps: int
    n_trajectories: int = 1
    path_sigma: float = 0.0
    coupling: Coupling | None = None
    variant_weights: tuple[float, ...] | None = None
    n_conditions: int = 0

    def __call__(
        self, cells: np.ndarray, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Sequences of the given cells (indices into ``states``).

        Parameters
        ----------
        cells
            Target cells of the minibatch.
        generator
            CPU generator of every random draw (controls, noise, packing); the global one when
            ``None``.

        Returns
        -------
        ``"states"``: the paths in time-major order, ``(N, K + 1, P, D)``; ``"condition"``: the
        condition of each sequence, ``(N,)``.
        """
        cells = np.asarray(cells, dtype=np.int64)
        target = self.states[torch.as_tensor(cells)]
        conditions = self.conditions[cells]
        rows = conditions  # the prompt row of each sequence: its condition, or its variant
        if self.variant_weights is not None:
            weights = torch.as_tensor(self.variant_weights, dtype=torch.float64)
            drawn = torch.multinomial(weights, len(cells), replacement=True, generator=generator)
            rows = conditions + self.n_conditions * drawn.numpy()
        if self.pool is not None and self.coupling is not None:
            source = self.pool.states[torch.as_tensor(self.coupling.sample(cells, generator))]
        elif self.pool is not None:
            source = self.pool.sample(torch.as_tensor(self.contexts[cells]), generator)
            source = pair_within_groups(source, target, conditions)
        else:
            source = torch.randn(target.shape, generator=generator)
        paths = sample_paths(source, target, self.n_steps, self.path_sigma, generator)
        seed = int(torch.randint(0, 2**31 - 1, (), generator=generator))
        packed = pack_trajectories(rows, self.n_trajectories, np.random.default_rng(seed))
        return {
            "states": paths[torch.as_tensor(packed)].transpose(1, 2).contiguous(),
            "condition": torch.as_tensor(rows[packed[:, 0]], dtype=torch.long),
        }
