"""Saving a model free of code, and loading it (the format: :mod:`calmflow_sc._saving`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from anndata import AnnData
from mudata import MuData

from .._saving import (
    damaged_legacy,
    is_legacy,
    legacy_error,
    read_pickled_model,
    read_saved_model,
    restore_model,
    save_model,
    warn_legacy,
)

if TYPE_CHECKING:
    from ._model import CaLMFlowPerturb


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

        path = Path(dir_path)
        prefix = prefix or ""
        _, _, torch_device = parse_device_args(
            accelerator=accelerator,
            devices=device,
            return_device="torch",
            validate_single_device=True,
        )
        if is_legacy(path, prefix):
            if not allow_pickle:
                raise legacy_error(path)
            warn_legacy(path)
            saved = read_pickled_model(cls, path, prefix, torch_device)
            try:
                return restore_model(cls, saved, adata, torch_device)
            except (RuntimeError, KeyError, AttributeError) as err:
                raise damaged_legacy(path, err) from err
        saved = read_saved_model(cls, path, prefix, torch_device)
        return restore_model(cls, saved, adata, torch_device)
