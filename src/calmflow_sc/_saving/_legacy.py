"""Models saved by calmflow-sc 0.1.0: a pickled ``model.pt``, read only when allowed."""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ._format import ADATA_FILE, LEGACY_MODEL, MDATA_FILE, CheckpointError, has_manifest
from ._model_files import SavedModel, SavedParts

if TYPE_CHECKING:
    from ..model import CaLMFlowPerturb

# the keys of the pickled dictionary (scvi-tools' save format of the time)
_STATE, _VAR_NAMES, _ATTRIBUTES = "model_state_dict", "var_names", "attr_dict"


def is_legacy(directory: Path, prefix: str) -> bool:
    """Whether ``directory`` holds a 0.1.0 save with ``prefix`` (and no save of this format)."""
    return not has_manifest(directory, prefix) and (directory / f"{prefix}{LEGACY_MODEL}").is_file()


def legacy_error(path: Path) -> CheckpointError:
    """The error of a 0.1.0 save loaded without ``allow_pickle=True``."""
    return CheckpointError(
        f"{str(path)!r} holds a model saved by calmflow-sc 0.1.0 as a Python pickle "
        "('model.pt'). Reading a pickle can run any code it contains, so it is refused by "
        "default. Only if you trust where the file comes from, load it once with "
        "CaLMFlowPerturb.load(dir, allow_pickle=True) and save it again with model.save(...): "
        "the new format holds no code."
    )


def warn_legacy(directory: Path) -> None:
    """The warning of ``allow_pickle=True``."""
    warnings.warn(
        f"Loading {str(directory)!r} unpickles 'model.pt' (calmflow-sc 0.1.0 format), which can "
        "run any code it contains: do this only for files you trust, and save the model again "
        "with model.save(...) to get the safe format.",
        UserWarning,
        stacklevel=3,
    )


def read_pickled_model(
    cls: type[CaLMFlowPerturb], directory: Path, prefix: str, device: torch.device
) -> SavedModel:
    """Unpickle a 0.1.0 save (only behind ``allow_pickle=True``) and its saved data, if any."""
    try:
        saved = torch.load(
            directory / f"{prefix}{LEGACY_MODEL}", map_location=device, weights_only=False
        )
        attributes, var_names, state = saved[_ATTRIBUTES], saved[_VAR_NAMES], saved[_STATE]
        registry = attributes["registry_"]
        state.pop("pyro_param_store", None)  # scvi-tools saves it with every model
    except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, TypeError) as err:
        raise damaged_legacy(directory, err) from err
    saved_class = registry.get("model_name", cls.__name__)
    if saved_class != cls.__name__:
        raise CheckpointError(
            f"{str(directory)!r} holds a {saved_class} model; load it with {saved_class}.load."
        )
    data = None
    if registry.get("setup_method_name") == "setup_mudata":
        if (directory / f"{prefix}{MDATA_FILE}").is_file():
            import mudata

            data = mudata.read_h5mu(directory / f"{prefix}{MDATA_FILE}")
    elif (directory / f"{prefix}{ADATA_FILE}").is_file():
        from anndata import read_h5ad

        data = read_h5ad(directory / f"{prefix}{ADATA_FILE}")
    return SavedModel(attributes, var_names, state, data, SavedParts.of(directory, prefix))


def damaged_legacy(directory: Path, err: BaseException) -> CheckpointError:
    """The error of a 0.1.0 save that cannot be read or rebuilt."""
    return CheckpointError(
        f"Could not read the 0.1.0 model in {str(directory)!r}: its 'model.pt' is damaged "
        f"or was not written by model.save ({type(err).__name__}: {err})."
    )
