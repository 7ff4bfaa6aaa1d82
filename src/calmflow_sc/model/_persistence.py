"""Saving and loading CaLMFlowPerturb without pickles (see :mod:`calmflow_sc._checkpoint`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from anndata import AnnData, read_h5ad
from mudata import MuData

from .._checkpoint import (
    ADATA_FILE,
    ATTRIBUTES,
    LANGUAGE_MODEL_DIR,
    LEGACY_MODEL,
    MDATA_FILE,
    WEIGHTS,
    CheckpointError,
    has_manifest,
    read_manifest,
    write_checkpoint,
)
from .._serialization import from_json_value, to_json_value

if TYPE_CHECKING:
    from ._model import CaLMFlowPerturb


def model_attributes(model: CaLMFlowPerturb) -> dict[str, Any]:
    """The attributes scvi-tools saves with a model (names ending in ``_``)."""
    return {name: value for name, value in model._get_user_attributes() if name.endswith("_")}


def save_model(
    model: CaLMFlowPerturb,
    directory: str | Path,
    prefix: str = "",
    overwrite: bool = False,
    save_anndata: bool = False,
    extra: Callable[[Path], None] | None = None,
    attributes: dict[str, Any] | None = None,
    **anndata_write_kwargs: Any,
) -> Path:
    """Write ``model`` to ``directory`` in the safe format; see :meth:`CaLMFlowPerturb.save`.

    ``extra`` writes further files into the save (covered by its manifest); ``attributes``
    replace some of the model's saved attributes (a training checkpoint's history).
    """
    from safetensors.torch import save_file

    attributes = to_json_value(model_attributes(model) | (attributes or {}), "model")
    var_names = to_json_value(model.get_var_names(), "var_names")
    # tensors are copied to the CPU, contiguous and unshared, as safetensors wants them
    state = {
        name: tensor.detach().to("cpu", copy=True).contiguous()
        for name, tensor in model.module.state_dict().items()
    }

    def write(folder: Path) -> None:
        save_file(state, folder / f"{prefix}{WEIGHTS}", metadata={"format": "pt"})
        document = {"model_class": type(model).__name__, "attributes": attributes}
        document["var_names"] = var_names
        (folder / f"{prefix}{ATTRIBUTES}").write_text(json.dumps(document))
        model.module.backbone.save_pretrained(folder / f"{prefix}{LANGUAGE_MODEL_DIR}")
        if save_anndata:
            name = MDATA_FILE if isinstance(model.adata, MuData) else ADATA_FILE
            model.adata.write(folder / f"{prefix}{name}", **anndata_write_kwargs)
        if extra is not None:
            extra(folder)

    return write_checkpoint(
        directory,
        write,
        prefix=prefix,
        overwrite=overwrite,
        metadata={"model_class": type(model).__name__},
    )


def _legacy_error(path: Path) -> CheckpointError:
    return CheckpointError(
        f"{str(path)!r} holds a model saved by calmflow-sc 0.1.0 as a Python pickle "
        "('model.pt'). Reading a pickle can run any code it contains, so it is refused by "
        "default. Only if you trust where the file comes from, load it once with "
        "CaLMFlowPerturb.load(dir, allow_pickle=True) and save it again with model.save(...): "
        "the new format holds no code."
    )


def read_saved_model(
    cls: type[CaLMFlowPerturb],
    directory: Path,
    prefix: str,
    device: torch.device,
    manifest: dict | None = None,
) -> tuple[dict, Any, dict[str, torch.Tensor], AnnData | MuData | None]:
    """Verify and read a save: its attributes, gene names, tensors and saved data (if any).

    ``manifest``, when the caller has already verified it (:func:`read_manifest`), saves
    hashing every file again.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not has_manifest(directory, prefix) and (directory / f"{prefix}{LEGACY_MODEL}").is_file():
        raise _legacy_error(directory)
    if manifest is None:
        manifest = read_manifest(directory, prefix)
    saved_class = manifest.get("model_class")
    if saved_class != cls.__name__:
        raise CheckpointError(
            f"{str(directory)!r} holds a {saved_class} model; load it with {saved_class}.load."
        )
    listed = set(manifest["files"])
    for name in (ATTRIBUTES, WEIGHTS):
        if f"{prefix}{name}" not in listed:
            raise CheckpointError(
                f"The save in {str(directory)!r} does not list {prefix}{name}; it is incomplete."
            )
    try:
        document = json.loads((directory / f"{prefix}{ATTRIBUTES}").read_text())
        attributes = from_json_value(document["attributes"])
        var_names = from_json_value(document["var_names"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{prefix}{ATTRIBUTES} in {str(directory)!r} cannot be read ({err})."
        ) from err
    try:
        state = load_file(directory / f"{prefix}{WEIGHTS}", device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{prefix}{WEIGHTS} in {str(directory)!r} cannot be read ({err})."
        ) from err
    data = None
    if f"{prefix}{ADATA_FILE}" in listed:
        data = read_h5ad(directory / f"{prefix}{ADATA_FILE}")
    elif f"{prefix}{MDATA_FILE}" in listed:
        import mudata

        data = mudata.read_h5mu(directory / f"{prefix}{MDATA_FILE}")
    return attributes, var_names, state, data


def warn_legacy(directory: Path) -> None:
    """The warning of ``allow_pickle=True``."""
    warnings.warn(
        f"Loading {str(directory)!r} unpickles 'model.pt' (calmflow-sc 0.1.0 format), which can "
        "run any code it contains: do this only for files you trust, and save the model again "
        "with model.save(...) to get the safe format.",
        UserWarning,
        stacklevel=3,
    )
