"""What a model was set up with: registered keys, categories and the data they index."""

from __future__ import annotations

from typing import Any

from anndata import AnnData
from mudata import MuData

from .._anndata import modality_with_obs
from .._constants import REGISTRY_KEYS
from ..data import canonical_dose_levels


class RegistryMixin:
    """What a model was set up with: its registered keys, categories and data.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    @property
    def _setup_args(self) -> dict[str, Any]:
        """Every argument of the setup call (``get_setup_arg`` reads one)."""
        return self.registry_["setup_args"]

    @property
    def _layer(self) -> str | None:
        """The registered expression layer (``None``: ``X``)."""
        args = self._setup_args
        return args["layer"] if "layer" in args else args.get("rna_layer")

    @property
    def _rna_modality(self) -> str | None:
        """The modality holding expression, for models set up with :meth:`setup_mudata`."""
        if "rna_layer" not in self._setup_args:
            return None
        return (self._setup_args.get("modalities") or {}).get("rna_layer", "rna")

    def _expression_data(self, data: Any) -> AnnData:
        """The AnnData holding expression: ``data`` or its RNA modality."""
        if isinstance(data, MuData):
            return data.mod[self._rna_modality or "rna"]
        return data

    def _as_anndata(self, data: Any) -> AnnData:
        """An AnnData of a MuData's RNA modality, with the global ``obs`` columns it lacks."""
        if not isinstance(data, MuData):
            return data
        return modality_with_obs(data, self._rna_modality or "rna")

    @property
    def categories(self) -> dict[str, list[str]]:
        """Registered categories: perturbations, cell types, doses and each covariate."""
        registered = self.registry_["field_registries"]
        result = {}
        for key in (REGISTRY_KEYS.PERTURBATION_KEY, REGISTRY_KEYS.CELL_TYPE_KEY):
            if key in registered:
                mapping = self.get_state_registry(key).categorical_mapping
                result[key] = [str(value) for value in mapping]
        if REGISTRY_KEYS.DOSE_KEY in registered:
            mapping = self.get_state_registry(REGISTRY_KEYS.DOSE_KEY).categorical_mapping
            result[REGISTRY_KEYS.DOSE_KEY] = canonical_dose_levels(mapping)
        if REGISTRY_KEYS.COVARIATES_KEY in registered:
            mappings = self.get_state_registry(REGISTRY_KEYS.COVARIATES_KEY).mappings
            for column, mapping in mappings.items():
                result[column] = [str(value) for value in mapping]
        return result

    @property
    def dose_levels(self) -> list[str] | None:
        """The registered doses (``None`` without a ``dose_key``)."""
        return self.categories.get(REGISTRY_KEYS.DOSE_KEY)

    def categories_for(self, key: str) -> list[str]:
        """Registered categories of an obs column used by the model."""
        return self.condition_space.categories_for(key)
