"""Datasets: a simulated perturbation experiment and loaders of small real datasets."""

from __future__ import annotations

from ._descriptions import kang2018_descriptions, norman2019_descriptions
from ._on_disk import write_simulated
from ._real import kang2018, kang2018_counts, norman2019_devel
from ._simulated import simulated

__all__ = [
    "kang2018",
    "kang2018_counts",
    "kang2018_descriptions",
    "norman2019_descriptions",
    "norman2019_devel",
    "simulated",
    "write_simulated",
]
