"""Noise drawn per cell, so that a cell's prediction does not depend on the rest of the query.

Each cell gets a 64-bit key from the seed, a stream number (the sample) and its name; its
noise is a counter-based sequence of that key (splitmix64, then Box-Muller). The same cell,
seed and stream give the same numbers whatever the other cells, their order or the batch
size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def cell_keys(names: Sequence[str], seed: int, stream: int = 0) -> np.ndarray:
    """A 64-bit key per cell name, for a seed and a stream.

    Parameters
    ----------
    names
        Cell names (``adata.obs_names``); equal names get equal keys.
    seed
        The user's seed.
    stream
        Independent stream, e.g. the sample index.
    """
    prefix = f"{int(seed)}\x1f{int(stream)}\x1f".encode()
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(prefix + str(name).encode(), digest_size=8).digest())
            for name in names
        ),
        dtype=np.uint64,
        count=len(names),
    )


def _splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        return z ^ (z >> np.uint64(31))


def _uniform(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """Uniforms in (0, 1], one per (key, counter)."""
    with np.errstate(over="ignore"):
        bits = _splitmix64(_splitmix64(keys[:, None]) ^ (counters[None, :] * _GOLDEN))
    return ((bits >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53


def cell_normal(keys: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    """Standard normal numbers ``(len(keys), size)``, a deterministic function of each key.

    Parameters
    ----------
    keys
        Keys from :func:`cell_keys`.
    size
        Numbers per cell.
    offset
        Where in each cell's sequence to start (to draw independent blocks).
    """
    keys = np.asarray(keys, dtype=np.uint64)
    counters = 2 * (np.arange(size, dtype=np.uint64) + np.uint64(offset))
    radius = np.sqrt(-2.0 * np.log(_uniform(keys, counters)))
    angle = 2.0 * np.pi * _uniform(keys, counters + np.uint64(1))
    return (radius * np.cos(angle)).astype(np.float32)


def cell_uniform(keys: np.ndarray, size: int, offset: int = 0) -> np.ndarray:
    """Uniform numbers in (0, 1] ``(len(keys), size)``, a deterministic function of each key."""
    keys = np.asarray(keys, dtype=np.uint64)
    counters = 2 * (np.arange(size, dtype=np.uint64) + np.uint64(offset))
    return _uniform(keys, counters)


def cell_uniform_at(keys: np.ndarray, positions: np.ndarray, offset: int = 0) -> np.ndarray:
    """Uniform numbers in (0, 1]: the ``positions``-th of each key's sequence, elementwise.

    ``cell_uniform_at(keys[rows], cols)`` equals ``cell_uniform(keys, size)[rows, cols]``
    without drawing the rest of the matrix.
    """
    keys = np.asarray(keys, dtype=np.uint64)
    counters = 2 * (np.asarray(positions, dtype=np.uint64) + np.uint64(offset))
    with np.errstate(over="ignore"):
        bits = _splitmix64(_splitmix64(keys) ^ (counters * _GOLDEN))
    return ((bits >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53
