"""Packing of cells that share a prompt into multi-trajectory sequences."""

from __future__ import annotations

import numpy as np


def pack_trajectories(
    groups: np.ndarray, n_trajectories: int, rng: np.random.Generator
) -> np.ndarray:
    """Group cells of the same condition into sequences of ``P`` trajectories.

    A sequence has one prompt, so its ``P`` trajectories must share a condition. Cells are
    grouped by ``groups``; each group is shuffled and filled up to a multiple of ``P`` by
    drawing extra cells of the same group with replacement, so that every cell is used.

    Parameters
    ----------
    groups
        Condition label of each cell, shape ``(n,)``.
    n_trajectories
        Number ``P`` of trajectories per sequence.
    rng
        Random generator for shuffling and filling.

    Returns
    -------
    Cell indices of shape ``(n_sequences, P)``.
    """
    n = len(groups)
    if n_trajectories == 1:
        return np.arange(n, dtype=np.int64)[:, None]
    sequences = []
    for label in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == label))
        missing = -len(members) % n_trajectories
        if missing:
            members = np.concatenate([members, rng.choice(members, size=missing, replace=True)])
        sequences.append(members.reshape(-1, n_trajectories))
    return np.concatenate(sequences).astype(np.int64)
