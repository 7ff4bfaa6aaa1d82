"""Free-text descriptions of the perturbations of the benchmark datasets.

Used as ``perturbation_descriptions`` to test whether prior knowledge reaches the model; they
ship with the package (:func:`calmflow_sc.datasets.norman2019_descriptions`).
"""

from __future__ import annotations

from calmflow_sc.datasets import (
    dong2023_descriptions,
    kang2018_descriptions,
    norman2019_descriptions,
)

KANG = kang2018_descriptions()
NORMAN = norman2019_descriptions()
CINEMAOT = dong2023_descriptions()
DESCRIPTIONS = {"kang": KANG, "norman": NORMAN, "cinemaot": CINEMAOT}
