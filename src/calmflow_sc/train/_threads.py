"""How many CPU threads torch uses while the package trains and predicts."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: Machines with at most this many cores train with one thread by default: there torch's
#: threads, spinning while they wait, slow training down many times as soon as anything else
#: runs (``benchmarks/threads.py``; docs/benchmarks.md, "Threads").
FEW_CORES = 4


def default_num_threads(n_cores: int | None = None) -> int:
    """Threads used when neither the call nor the user's settings name a number.

    One thread on a machine with at most :data:`FEW_CORES` cores; half the cores on larger
    ones, so that another job never makes the threads wait for each other.

    Parameters
    ----------
    n_cores
        Cores of the machine; ``None`` counts those this process may use.
    """
    if n_cores is None:
        n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        n_cores = n_cores or os.cpu_count() or 1
    return 1 if n_cores <= FEW_CORES else n_cores // 2


def resolve_num_threads(num_threads: int | None) -> int:
    """The threads to use: ``num_threads``, else the user's setting, else the default.

    The user's setting is ``scvi.settings.num_threads`` or, when the environment sets
    ``OMP_NUM_THREADS``, torch's current number of threads.

    Parameters
    ----------
    num_threads
        Threads the call asks for, or ``None``.
    """
    if num_threads is not None:
        if isinstance(num_threads, bool) or int(num_threads) != num_threads or num_threads < 1:
            raise ValueError(f"num_threads must be a positive integer, got {num_threads!r}.")
        return int(num_threads)
    import scvi

    if scvi.settings.num_threads is not None:
        return int(scvi.settings.num_threads)
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    return default_num_threads()


@contextlib.contextmanager
def torch_threads(num_threads: int) -> Iterator[None]:
    """Use ``num_threads`` torch threads meanwhile, then restore the number before."""
    before = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
