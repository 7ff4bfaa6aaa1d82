"""A model's files: writing them, reading them back, and rebuilding the model from them."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from anndata import AnnData, read_h5ad
from mudata import MuData

from ._format import (
    ADATA_FILE,
    ATTRIBUTES,
    LANGUAGE_MODEL_DIR,
    MDATA_FILE,
    WEIGHTS,
    CheckpointError,
    read_manifest,
    write_checkpoint,
)
from ._serialization import from_json_value, to_json_value

if TYPE_CHECKING:
    from ..model import CaLMFlowPerturb
    from ..nn import ComponentKnowledge

#: prefix of the component knowledge's tensors in the module's state
KNOWLEDGE_PREFIX = "knowledge."


@dataclass(frozen=True)
class SavedParts:
    """What a loaded model takes from its save instead of building it from its arguments.

    Passed by :meth:`~calmflow_sc.CaLMFlowPerturb.load` to the model's constructor.

    Attributes
    ----------
    language_model
        The save's ``language_model/`` directory (architecture and tokenizer; the weights
        come with the module's state), or ``None`` when the save has none.
    knowledge
        The component knowledge saved with the weights, or ``None``.
    """

    language_model: Path | None = None
    knowledge: ComponentKnowledge | None = None

    @classmethod
    def of(cls, directory: Path, prefix: str, state: dict | None = None) -> SavedParts:
        """The parts of the save with ``prefix`` in ``directory``, whose tensors are ``state``."""
        from ..nn import ComponentKnowledge

        language_model = directory / f"{prefix}{LANGUAGE_MODEL_DIR}"
        knowledge = None
        if state is not None and f"{KNOWLEDGE_PREFIX}vectors" in state:
            knowledge = ComponentKnowledge.from_state_dict(state, KNOWLEDGE_PREFIX)
        return cls(language_model if language_model.is_dir() else None, knowledge)


class SavedModel(NamedTuple):
    """A save read back: what :func:`restore_model` rebuilds a model from."""

    attributes: dict[str, Any]
    var_names: Any
    state: dict[str, torch.Tensor]
    data: AnnData | MuData | None
    parts: SavedParts


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


def read_saved_model(
    cls: type[CaLMFlowPerturb],
    directory: Path,
    prefix: str,
    device: torch.device,
    manifest: dict | None = None,
) -> SavedModel:
    """Verify and read a save: its attributes, gene names, tensors, saved data and parts.

    ``manifest``, when the caller has already verified it (:func:`read_manifest`), saves
    hashing every file again.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

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
    return SavedModel(attributes, var_names, state, data, SavedParts.of(directory, prefix, state))


def restore_model(
    cls: type[CaLMFlowPerturb],
    saved: SavedModel,
    adata: AnnData | MuData | None,
    device: torch.device,
) -> CaLMFlowPerturb:
    """Rebuild a model from a save read back: set up the data, construct, load the weights.

    As scvi-tools' ``BaseModelClass.load``: ``adata`` (or the saved data) is set up with the
    saved registry's arguments, the model is constructed with the saved arguments, and the
    saved attributes and weights are set; the saved parts go to the constructor's ``_saved``.
    """
    from scvi.model.base._save_load import _validate_var_names

    adata = saved.data if adata is None else adata
    attributes = dict(saved.attributes)
    registry = attributes.pop("registry_")
    if adata is not None:
        _validate_var_names(adata, saved.var_names)
        setup = getattr(cls, registry.get("setup_method_name", "setup_anndata"))
        setup(adata, source_registry=registry, **registry["setup_args"])
    model = cls(adata, registry=registry, **_init_arguments(attributes), _saved=saved.parts)
    for name, value in attributes.items():
        setattr(model, name, value)
    model.module.on_load(model)
    model.module.load_state_dict(saved.state)
    model.to_device(device)
    model.module.eval()
    if adata is not None:
        model._validate_anndata(adata)
    return model


def _init_arguments(attributes: dict[str, Any]) -> dict[str, Any]:
    """Pop the constructor's arguments (``init_params_``, as scvi-tools records them)."""
    if "init_params_" not in attributes:
        raise CheckpointError("The save records no init_params_: it was not written by save().")
    recorded = attributes.pop("init_params_")
    keywords = {k: v for group in recorded["kwargs"].values() for k, v in group.items()}
    return {**recorded["non_kwargs"], **keywords}
