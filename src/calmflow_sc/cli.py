"""The ``calmflow-sc`` command."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ._cli_help import DEMO_HELP, EVALUATE_HELP, GENERATE_HELP, PREDICT_HELP, TRAIN_HELP


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calmflow-sc",
        description="Predict single-cell perturbation responses with CaLMFlow.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"calmflow-sc {__version__}")
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

    def command(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            help=help_text,
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return sub

    train = command("train", "train a model on an .h5ad/.h5mu file", TRAIN_HELP)
    train.add_argument("data", help="training cells (.h5ad or .h5mu)")
    train.add_argument("--perturbation-key", required=True, help="obs column of perturbations")
    train.add_argument("--control-value", required=True, help="value of unperturbed cells")
    train.add_argument("--cell-type-key", default=None, help="obs column of cell types")
    train.add_argument("--covariate-keys", nargs="+", default=None, help="further obs columns")
    train.add_argument("--layer", default=None, help="layer of log-normalised expression")
    train.add_argument("--dose-key", default=None, help="obs column of doses (optional)")
    train.add_argument("--max-epochs", type=int, default=None, help="training epochs")
    train.add_argument("--accelerator", default="auto", help="cpu, gpu or auto")
    train.add_argument("--devices", default="auto", help="devices to use (Lightning)")
    train.add_argument("--source", default="control", help="control or gaussian")
    train.add_argument("--language-model", default=None, help="hub name or local directory")
    train.add_argument("--seed", type=int, default=0, help="random seed")
    train.add_argument(
        "--validation",
        default="cells",
        choices=["cells", "conditions"],
        help="what decides when to stop: held-out cells, or held-out whole conditions",
    )
    train.add_argument(
        "--refit", action="store_true", help="with --validation conditions: retrain on all"
    )
    train.add_argument(
        "--max-time",
        default=None,
        help="stop after this wall time, DD:HH:MM:SS (e.g. 00:00:30:00), keeping the best weights",
    )
    train.add_argument(
        "--num-threads", type=int, default=None, help="CPU threads (default: 1 on <= 4 cores)"
    )
    train.add_argument("--modality", default="rna", help="expression modality of .h5mu input")
    train.add_argument("--out", required=True, help="directory to save the model to")
    train.add_argument("--overwrite", action="store_true", help="replace a model saved in OUT")

    predict = command("predict", "predict a perturbation for the cells of a file", PREDICT_HELP)
    predict.add_argument("model", help="directory written by `train`")
    predict.add_argument("query", help="cells to predict from (.h5ad or .h5mu)")
    predict.add_argument("--perturbation", required=True, help="perturbation to predict")
    predict.add_argument(
        "--dose", default=None, help="its dose (models trained with --dose-key): 10 or 10+2.5"
    )
    predict.add_argument("--key-added", default="calmflow", help="name of the outputs")
    predict.add_argument("--n-samples", type=int, default=1, help="samples averaged per cell")
    predict.add_argument("--seed", type=int, default=0, help="random seed")
    predict.add_argument(
        "--dense", action="store_true", help="keep the dense values (no real-cell zeros)"
    )
    predict.add_argument("--modality", default="rna", help="expression modality of .h5mu files")
    predict.add_argument("--out", required=True, help="output file (.h5ad or .h5mu)")
    predict.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    predict.add_argument(
        "--allow-unseen",
        action="store_true",
        help="predict a perturbation with components never seen in training (text only)",
    )

    generate = command("generate", "generate cells of listed conditions", GENERATE_HELP)
    generate.add_argument("model", help="directory written by `train`")
    generate.add_argument("conditions", help="CSV with one row per cell to generate")
    generate.add_argument("--seed", type=int, default=0, help="random seed")
    generate.add_argument("--modality", default="rna", help="modality name of .h5mu output")
    generate.add_argument("--out", required=True, help="output file (.h5ad or .h5mu)")
    generate.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")

    evaluate = command("evaluate", "score predictions against observed cells", EVALUATE_HELP)
    evaluate.add_argument("pred", help="predicted cells (.h5ad or .h5mu)")
    evaluate.add_argument("real", help="observed perturbed cells")
    evaluate.add_argument("control", help="observed control cells")
    evaluate.add_argument(
        "--pred-layer",
        "--key-added",
        dest="key_added",
        default=None,
        help="layer of PRED holding the prediction (else X)",
    )
    evaluate.add_argument("--layer", default=None, help="layer of REAL and CONTROL (else X)")
    evaluate.add_argument("--groupby", default=None, help="obs column scored group by group")
    evaluate.add_argument("--modality", default="rna", help="expression modality of .h5mu files")
    evaluate.add_argument("--out", required=True, help="output CSV")
    evaluate.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    evaluate.add_argument(
        "--cell-eval",
        default=None,
        metavar="DIR",
        help="also write pred.h5ad and real.h5ad for `cell-eval run` into DIR",
    )
    evaluate.add_argument(
        "--perturbation-key", default="condition", help="perturbation column (for --cell-eval)"
    )
    evaluate.add_argument(
        "--control-value", default="control", help="label of the controls (for --cell-eval)"
    )
    return parser


def _quiet_libraries() -> None:
    """Keep the terminal for progress bars and results: no library chatter."""
    import lightning  # noqa: F401  # it sets its loggers to INFO when imported: import it first

    from .train import LIBRARY_LOGGERS, LIBRARY_WARNINGS

    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    for message in LIBRARY_WARNINGS:
        warnings.filterwarnings("ignore", message=message)


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


def _train(args: argparse.Namespace) -> int:
    _quiet_libraries()
    import scvi

    from ._io import read_cells
    from ._saving import has_save
    from .model import CaLMFlowPerturb

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out!r} is a file; name a directory for the model.")
    if out.is_dir() and has_save(out) and not args.overwrite:
        raise ValueError(
            f"--out {args.out!r} already holds a saved model; pass --overwrite to replace it."
        )
    adata = read_cells(args.data, args.modality)
    scvi.settings.seed = args.seed
    CaLMFlowPerturb.setup_anndata(
        adata,
        perturbation_key=args.perturbation_key,
        control_value=args.control_value,
        cell_type_key=args.cell_type_key,
        covariate_keys=args.covariate_keys,
        layer=args.layer,
        dose_key=args.dose_key,
    )
    model = CaLMFlowPerturb(adata, source=args.source, language_model=args.language_model)
    print(model._model_summary_string, flush=True)
    devices = int(args.devices) if str(args.devices).isdigit() else args.devices
    model.train(
        max_epochs=args.max_epochs,
        accelerator=args.accelerator,
        devices=devices,
        validation=args.validation,
        refit=args.refit,
        max_time=args.max_time,
        num_threads=args.num_threads,
    )
    model.save(args.out, overwrite=args.overwrite)
    print(f"model saved to {args.out}")
    return 0


def _load(directory: str):
    from .model import CaLMFlowPerturb

    return CaLMFlowPerturb.load(directory, accelerator="cpu")


def _check_known_perturbation(model, perturbation: str, allow_unseen: bool) -> None:
    """Refuse a perturbation with components neither trained nor described, unless allowed."""
    prompts = model.condition_prompts
    unseen = prompts.unknown_components([perturbation])
    if unseen and not allow_unseen:
        raise ValueError(
            f"--perturbation {perturbation!r}: {unseen} never occurred in training and the model "
            f"holds no description or embedding of them (known: "
            f"{prompts.trained_components[:10]}).{prompts.spelling_hint(unseen)} Check the "
            "spelling; with a text-prompt model "
            "(prompt_encoder='lm'), --allow-unseen predicts from the text of the prompt alone."
        )


def _predict(args: argparse.Namespace) -> int:
    _quiet_libraries()
    from ._io import check_output_path, read_cells, write_cells

    out = check_output_path(args.out, args.overwrite)
    model = _load(args.model)
    _check_known_perturbation(model, args.perturbation, args.allow_unseen)
    arguments = {
        "key_added": args.key_added,
        "n_samples": args.n_samples,
        "seed": args.seed,
        "dose": args.dose,
        "keep_zeros": not args.dense,
    }
    if out.suffix == ".h5ad" and Path(args.query).suffix == ".h5ad":
        # streamed: the query stays on disk, the predictions go to OUT block by block
        query = read_cells(args.query, args.modality, backed=True)
        model.predict(query, args.perturbation, output=out, overwrite=True, **arguments)
        query.file.close()
        path = out
    else:
        query = read_cells(args.query, args.modality)
        model.predict(query, args.perturbation, **arguments)
        path = write_cells(query, args.out, args.modality)
    print(f"predicted {query.n_obs} cells under {args.perturbation}; written to {path}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    _quiet_libraries()
    import pandas as pd

    from ._io import check_output_path, write_cells

    check_output_path(args.out, args.overwrite)
    model = _load(args.model)
    conditions = pd.read_csv(args.conditions, dtype=str)
    generated = model.generate(conditions, seed=args.seed)
    path = write_cells(generated, args.out, args.modality)
    print(f"generated {generated.n_obs} cells; written to {path}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    _quiet_libraries()
    from anndata import AnnData

    from ._anndata import get_expression
    from ._io import check_output_path, read_cells
    from .metrics import evaluate

    check_output_path(args.out, args.overwrite, suffixes=(".csv",))

    pred, real, control = (
        read_cells(p, args.modality) for p in (args.pred, args.real, args.control)
    )
    streamed = args.key_added not in pred.layers and f"{args.key_added}_params" in pred.uns
    if args.key_added is not None and not streamed:  # a streamed prediction is in X
        pred = AnnData(get_expression(pred, args.key_added, "PRED"), obs=pred.obs, var=pred.var)
    if args.layer is not None:
        real = AnnData(get_expression(real, args.layer, "REAL"), obs=real.obs, var=real.var)
        control = AnnData(
            get_expression(control, args.layer, "CONTROL"), obs=control.obs, var=control.var
        )
    if _same_values(pred.X, control.X):
        raise ValueError(
            "PRED's expression is identical to CONTROL's: it holds the control cells, not a "
            "prediction. Name the layer with the prediction with --key-added (e.g. calmflow)."
        )
    table = evaluate(pred, real, control, groupby=args.groupby)
    table.to_csv(args.out, index=False)
    if args.cell_eval is not None:
        from .metrics import to_cell_eval

        paths = to_cell_eval(
            pred,
            real,
            control,
            args.cell_eval,
            args.perturbation_key,
            args.control_value,
            overwrite=args.overwrite,
        )
        print(
            f"cell-eval files: {paths['pred']} and {paths['real']}; score them with `cell-eval "
            f"run -ap {paths['pred']} -ar {paths['real']} --control-pert {args.control_value} "
            f"--pert-col {args.perturbation_key}`"
        )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


def _same_values(first, second) -> bool:
    """Whether two expression matrices (dense or sparse) hold the same values."""
    import numpy as np
    from scipy import sparse

    from ._dense import to_dense

    if first.shape != second.shape:
        return False
    if sparse.issparse(first) and sparse.issparse(second):  # without densifying either
        return (sparse.csr_matrix(first) != sparse.csr_matrix(second)).nnz == 0
    return np.array_equal(to_dense(first), to_dense(second))


COMMANDS = {
    "demo": _demo,
    "train": _train,
    "predict": _predict,
    "generate": _generate,
    "evaluate": _evaluate,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (ValueError, KeyError, TypeError, OSError, RuntimeError, ImportError) as err:
        message = " ".join(str(err).split()).strip("'\"") or type(err).__name__
        print(f"calmflow-sc: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
