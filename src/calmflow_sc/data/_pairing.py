"""Exact optimal-transport pairing of source and target cells."""

from __future__ import annotations

import numpy as np
import ot
import torch


def optimal_transport_pairing(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Pair each target with a source by exact optimal transport (squared Euclidean cost).

    Parameters
    ----------
    source
        Source states of shape ``(n, D)``.
    target
        Target states of shape ``(n, D)``; the same number of rows as ``source``.

    Returns
    -------
    ``order`` such that ``source[order[i]]`` is the partner of ``target[i]``.
    """
    n = len(target)
    if len(source) != n:
        raise ValueError(f"Need as many sources ({len(source)}) as targets ({n}) to pair.")
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    cost = ot.dist(target.astype(np.float64), source.astype(np.float64))
    weights = np.full(n, 1.0 / n)
    plan = ot.emd(weights, weights, cost)
    # with uniform weights and equal sizes the exact plan is a permutation matrix
    return plan.argmax(axis=1).astype(np.int64)


def pair_within_groups(
    source: torch.Tensor, target: torch.Tensor, groups: np.ndarray
) -> torch.Tensor:
    """Reorder ``source`` so that, within each group, it is OT-paired with ``target``.

    Parameters
    ----------
    source, target
        States of shape ``(n, D)``.
    groups
        Group (e.g. condition) of every row; rows are paired only within their group.

    Returns
    -------
    ``source`` reordered: row ``i`` is the partner of ``target[i]``.
    """
    groups = np.asarray(groups)
    source_np = source.detach().float().cpu().numpy()
    target_np = target.detach().float().cpu().numpy()
    order = np.arange(len(groups))
    for group in np.unique(groups):
        members = np.flatnonzero(groups == group)
        order[members] = members[optimal_transport_pairing(source_np[members], target_np[members])]
    return source[torch.as_tensor(order, device=source.device)]
