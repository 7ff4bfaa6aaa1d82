"""Saving a model as safetensors and JSON, and loading it (and legacy pickles)."""

from __future__ import annotations

import contextlib
import contextvars
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anndata import AnnData
from mudata import MuData

from .._checkpoint import LANGUAGE_MODEL_DIR, LEGACY_MODEL, CheckpointError, has_manifest
from ..nn import ComponentKnowledge
from ..train._quiet import quiet_libraries
from ._persistence import read_saved_model, save_model, warn_legacy

if TYPE_CHECKING:
    from ._model import CaLMFlowPerturb

# set by CaLMFlowPerturb.load: the saved language model's directory
_SAVED_LANGUAGE_MODEL: contextvars.ContextVar[Path | None] = contextvars.ContextVar(
    "saved_language_model", default=None
)


# set by CaLMFlowPerturb.load: the saved component knowledge
_SAVED_KNOWLEDGE: contextvars.ContextVar[ComponentKnowledge | None] = contextvars.ContextVar(
    "saved_knowledge", default=None
)


@contextlib.contextmanager
def _saved_language_model(path: Path, prefix: str, state: Mapping | None = None):
    """While loading: the backbone and the component knowledge come from the save.

    The backbone from the save's ``language_model/``, if it has one; the knowledge from its
    weights (``state``), if they hold one.
    """
    saved = path / f"{prefix}{LANGUAGE_MODEL_DIR}"
    token = _SAVED_LANGUAGE_MODEL.set(saved if saved.is_dir() else None)
    knowledge = None
    if state is not None and "knowledge.vectors" in state:
        knowledge = ComponentKnowledge.from_state_dict(state, "knowledge.")
    knowledge_token = _SAVED_KNOWLEDGE.set(knowledge)
    try:
        yield
    finally:
        _SAVED_LANGUAGE_MODEL.reset(token)
        _SAVED_KNOWLEDGE.reset(knowledge_token)


class SavingMixin:
    """Saving a model free of code, and loading it.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    def save(
        self,
        dir_path: str | Path,
        prefix: str | None = None,
        overwrite: bool = False,
        save_anndata: bool = False,
        **anndata_write_kwargs: Any,
    ) -> None:
        """Save the model, self-contained and free of code, to a directory.

        The weights (with the PCA and the control cells) go to ``weights.safetensors``; the
        registry, arguments, categories, gene names and training history to ``model.json``;
        the language model's configuration and tokenizer to ``language_model/``; and a
        ``manifest.json`` with the format version and the SHA-256 of every file, which
        :meth:`load` verifies. The files are written to a temporary directory and renamed
        into place, so that an interrupted save leaves an earlier model intact; files of an
        earlier save with the same prefix are removed, other files of the directory kept.

        Parameters
        ----------
        dir_path
            Directory to save to; created if needed.
        prefix
            Prefix of the saved file names (several models can share a directory).
        overwrite
            Replace a model saved earlier in ``dir_path`` with the same prefix.
        save_anndata
            Also save the training AnnData (``adata.h5ad``) or MuData (``mdata.h5mu``).
        **anndata_write_kwargs
            Arguments of :meth:`anndata.AnnData.write`, e.g. ``compression="gzip"``.
        """
        save_model(self, dir_path, prefix or "", overwrite, save_anndata, **anndata_write_kwargs)

    @classmethod
    def load(
        cls,
        dir_path: str | Path,
        adata: AnnData | MuData | None = None,
        accelerator: str = "auto",
        device: int | str = "auto",
        prefix: str | None = None,
        allow_pickle: bool = False,
    ) -> CaLMFlowPerturb:
        """Load a model saved with :meth:`save`, verifying every file first.

        Loading reads JSON, text and safetensors files only: it never unpickles, so a model
        directory cannot run code. Models saved by calmflow-sc 0.1.0 (a pickled
        ``model.pt``) are refused unless ``allow_pickle=True``.

        Parameters
        ----------
        dir_path
            Directory written by :meth:`save`.
        adata
            AnnData organised as the training data (to train further); ``None`` loads the
            AnnData saved with the model, or the model alone.
        accelerator, device
            Where to load the model; ``accelerator="cpu"`` loads a GPU-trained model on CPU.
        prefix
            The prefix the model was saved with.
        allow_pickle
            Read a calmflow-sc 0.1.0 ``model.pt`` pickle. A pickle can run any code it
            contains: only for files you trust; save the model again afterwards.

        Returns
        -------
        The trained model.

        Raises
        ------
        FileNotFoundError
            No saved model in ``dir_path``.
        calmflow_sc.CheckpointError
            A damaged, modified, incomplete or newer save, another model class's save, or a
            0.1.0 pickle without ``allow_pickle=True``.
        """
        from scvi.model._utils import parse_device_args
        from scvi.model.base._save_load import _initialize_model, _validate_var_names

        path = Path(dir_path)
        prefix = prefix or ""
        if (
            allow_pickle
            and not has_manifest(path, prefix)
            and (path / f"{prefix}{LEGACY_MODEL}").is_file()
        ):
            warn_legacy(path)
            return cls._load_pickled(path, adata, accelerator, device, prefix)
        _, _, torch_device = parse_device_args(
            accelerator=accelerator,
            devices=device,
            return_device="torch",
            validate_single_device=True,
        )
        attributes, var_names, state, saved_data = read_saved_model(cls, path, prefix, torch_device)
        adata = saved_data if adata is None else adata
        registry = attributes.pop("registry_")
        if adata is not None:
            _validate_var_names(adata, var_names)
            setup = getattr(cls, registry.get("setup_method_name", "setup_anndata"))
            setup(adata, source_registry=registry, **registry["setup_args"])
        with _saved_language_model(path, prefix, state):
            model = _initialize_model(cls, adata, registry, attributes, None)
        model.module.on_load(model)
        model.module.load_state_dict(state)
        model.to_device(torch_device)
        model.module.eval()
        if adata is not None:
            model._validate_anndata(adata)
        return model

    @classmethod
    def _load_pickled(
        cls,
        path: Path,
        adata: AnnData | MuData | None,
        accelerator: str,
        device: int | str,
        prefix: str,
    ) -> CaLMFlowPerturb:
        """Load a calmflow-sc 0.1.0 save (a pickle; only behind ``allow_pickle=True``)."""
        try:
            with _saved_language_model(path, prefix), quiet_libraries():
                return super().load(
                    str(path), adata=adata, accelerator=accelerator, device=device, prefix=prefix
                )
        except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, AttributeError) as err:
            raise CheckpointError(
                f"Could not read the 0.1.0 model in {str(path)!r}: its 'model.pt' is damaged "
                f"or was not written by model.save ({type(err).__name__}: {err})."
            ) from err
