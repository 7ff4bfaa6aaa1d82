"""The ``calmflow-sc`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

DEMO_HELP = """\
Train CaLMFlowPerturb on the embedded simulated data, predict a held-out combination
(monocytes under IFNB+TNF) from monocyte control cells, write the predictions to an .h5ad
and compare them with the control and mean-shift baselines.

example:
  calmflow-sc demo --out calmflow_sc_demo/predictions.h5ad
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calmflow-sc",
        description="Predict single-cell perturbation responses with CaLMFlow.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train on the embedded data and predict a held-out combination",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    demo.add_argument("--out", default="calmflow_sc_demo/predictions.h5ad", help="output .h5ad")
    demo.add_argument("--max-epochs", type=int, default=None, help="training epochs")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    return parser


def _quiet_libraries() -> None:
    """Keep the terminal for progress bars and results: no library chatter."""
    logging.getLogger("lightning").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def _demo(args: argparse.Namespace) -> int:
    _quiet_libraries()
    from ._demo import DEMO_CELL_TYPE, DEMO_PERTURBATION, run_demo

    print(
        f"Training on simulated data with {DEMO_CELL_TYPE} x {DEMO_PERTURBATION} held out ...",
        flush=True,
    )
    result = run_demo(args.out, max_epochs=args.max_epochs, seed=args.seed)
    columns = ["energy_distance", "mmd", "pearson_delta_all", "pearson_delta_top50"]
    print(f"\nHeld-out {DEMO_CELL_TYPE} under {DEMO_PERTURBATION}, predicted from controls")
    print("(energy distance and MMD in PCA space: lower is better; Pearson delta: higher)")
    print(result.scores[columns].to_string(float_format=lambda v: f"{v:.3f}"))
    print(
        f"\ntraining {result.train_seconds:.0f} s, prediction {result.predict_seconds:.2f} s; "
        f"predictions written to {result.output}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(args)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as err:
        print(f"calmflow-sc: error: {err}", file=sys.stderr)
        return 1
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
