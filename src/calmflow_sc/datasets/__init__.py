"""Datasets: a simulated perturbation experiment and loaders of real ones."""

from __future__ import annotations

from ._descriptions import dong2023_descriptions, kang2018_descriptions, norman2019_descriptions
from ._dong2023 import dong2023_cinemaot
from ._log_normalized import write_log_normalized
from ._on_disk import write_simulated
from ._parse_pbmc import parse_pbmc_cytokines
from ._real import kang2018, kang2018_counts, norman2019_devel
from ._simulated import simulated

__all__ = [
    "dong2023_cinemaot",
    "dong2023_descriptions",
    "kang2018",
    "kang2018_counts",
    "kang2018_descriptions",
    "norman2019_descriptions",
    "norman2019_devel",
    "parse_pbmc_cytokines",
    "simulated",
    "write_log_normalized",
    "write_simulated",
]
