"""Recover the rows of an interrupted ``run.py`` from its log (one line per prediction).

``run.py`` now saves its CSV after every held-out split; this recovers the main scores of
runs logged before it did (``results/ablations.log``), or of a split cut short. Usage::

    python benchmarks/log_to_csv.py run.log benchmarks/results/ablations.csv
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

LINE = re.compile(
    r"^(?P<task>\w+) (?P<split>\S+) (?P<perturbation>\S+) (?P<model>\S+) seed=(?P<seed>\d+): "
    r"ED (?P<energy_distance>[-\d.]+) MMD (?P<mmd>[-\d.]+) PD50 (?P<pearson_delta_top50>[-\d.na]+) "
    r"own (?P<own_deviation_top50>[-\d.na]+) \((?P<train_s>\d+) s\)$"
)


def main() -> None:
    """Command-line entry point."""
    log, out = sys.argv[1], sys.argv[2]
    lines = Path(log).read_text().splitlines()
    rows = [m.groupdict() for m in map(LINE.match, lines) if m]
    table = pd.DataFrame(rows)
    for column in table.columns[5:]:
        table[column] = pd.to_numeric(table[column], errors="coerce")
    table["seed"] = table["seed"].astype(int)
    table.to_csv(out, index=False)
    print(f"{len(table)} rows written to {out}")


if __name__ == "__main__":
    main()
