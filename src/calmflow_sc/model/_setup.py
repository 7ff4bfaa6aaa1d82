"""Registration of training data: ``setup_anndata`` and ``setup_mudata``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from anndata import AnnData
from mudata import MuData
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalJointObsField, CategoricalObsField, LayerField

from .._anndata import as_key_list
from .._constants import REGISTRY_KEYS
from .._docs import doc
from .._expression import check_expression
from ..data import (
    check_control_value,
    check_dose_column,
    check_perturbation_labels,
    check_setup,
)


class SetupMixin:
    """Registering an AnnData or a MuData for training.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    @classmethod
    @doc.dedent
    def setup_anndata(
        cls,
        adata: AnnData,
        perturbation_key: str = "condition",
        control_value: str = "control",
        cell_type_key: str | None = None,
        covariate_keys: str | Sequence[str] | None = None,
        layer: str | None = None,
        dose_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Register an AnnData for training.

        Every argument is validated before anything is written. As every scvi-tools model,
        registration stores integer codes of the categorical columns in
        ``adata.obs["_scvi_perturbation"]`` (and ``"_scvi_cell_type"``), covariate codes in
        ``adata.obsm["_scvi_covariates"]``, and ``adata.uns["_scvi_uuid"]`` /
        ``adata.uns["_scvi_manager_uuid"]``; nothing else is changed.

        Parameters
        ----------
        %(param_adata)s
        %(param_perturbation_key)s
        %(param_control_value)s
        %(param_cell_type_key)s
        %(param_covariate_keys)s
            They enter the prompt and choose the control cells a path starts from.
        %(param_layer)s
        %(param_dose_key)s
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        covariate_keys = as_key_list(covariate_keys) or None
        setup_method_args["setup_args"]["covariate_keys"] = covariate_keys
        setup_method_args["setup_args"]["control_value"] = str(control_value)
        check_setup(
            adata,
            perturbation_key,
            control_value,
            cell_type_key,
            covariate_keys,
            layer,
            require_control="source_registry" not in kwargs,
            dose_key=dose_key,
        )
        fields = [
            LayerField(REGISTRY_KEYS.X_KEY, layer, is_count_data=False),
            CategoricalObsField(REGISTRY_KEYS.PERTURBATION_KEY, perturbation_key),
        ]
        if dose_key is not None:
            fields.append(CategoricalObsField(REGISTRY_KEYS.DOSE_KEY, dose_key))
        if cell_type_key is not None:
            fields.append(CategoricalObsField(REGISTRY_KEYS.CELL_TYPE_KEY, cell_type_key))
        if covariate_keys:
            fields.append(CategoricalJointObsField(REGISTRY_KEYS.COVARIATES_KEY, covariate_keys))
        adata_manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        adata_manager.register_fields(adata, **kwargs)
        cls.register_manager(adata_manager)

    @classmethod
    def setup_mudata(
        cls,
        mdata: MuData,
        perturbation_key: str = "condition",
        control_value: str = "control",
        cell_type_key: str | None = None,
        covariate_keys: str | Sequence[str] | None = None,
        rna_layer: str | None = None,
        modalities: dict[str, str | None] | None = None,
        dose_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Register a MuData for training, in the scvi-tools style.

        Parameters
        ----------
        mdata
            MuData with an RNA modality of log-normalised expression.
        perturbation_key, control_value, cell_type_key, covariate_keys, dose_key
            As in :meth:`setup_anndata`.
        rna_layer
            Layer of the RNA modality with log-normalised expression; ``None`` uses its ``X``.
        modalities
            Which modality holds each argument, e.g.
            ``{"rna_layer": "rna", "perturbation_key": "guides"}``; an argument not listed is
            read from ``mdata.obs`` (the expression from the ``"rna"`` modality). A
            perturbation label can thus live in a guide-assignment modality or in
            ``mdata.obs``.

        Notes
        -----
        :meth:`predict` and :meth:`generate` accept the MuData (or any MuData with the same
        RNA modality) and write their outputs into its RNA modality.

        Examples
        --------
        >>> CaLMFlowPerturb.setup_mudata(  # doctest: +SKIP
        ...     mdata, perturbation_key="guide", control_value="NT",
        ...     modalities={"rna_layer": "rna", "perturbation_key": "crispr"},
        ... )
        """
        from scvi.data.fields import (
            MuDataCategoricalJointObsField,
            MuDataCategoricalObsField,
            MuDataLayerField,
        )

        if not isinstance(mdata, MuData):
            raise TypeError(
                f"Expected a MuData, got {type(mdata).__name__}; use setup_anndata for AnnData."
            )
        modalities = {"rna_layer": "rna", **(modalities or {})}
        setup_method_args = cls._get_setup_method_args(**locals())
        covariate_keys = as_key_list(covariate_keys) or None
        setup_method_args["setup_args"]["covariate_keys"] = covariate_keys
        setup_method_args["setup_args"]["control_value"] = str(control_value)
        where = cls._create_modalities_attr_dict(modalities, setup_method_args)
        for modality in {v for v in dict(where).values() if v is not None}:
            if modality not in mdata.mod:
                raise KeyError(
                    f"Modality {modality!r} named in `modalities` is not in the MuData "
                    f"(modalities: {list(mdata.mod)})."
                )
        rna = mdata.mod[where.rna_layer]

        def obs_of(argument: str) -> tuple[pd.DataFrame, str]:
            """The obs table an argument's column is read from, and its name for errors."""
            if where[argument]:
                return mdata.mod[where[argument]].obs, f"mdata.mod[{where[argument]!r}].obs"
            return mdata.obs, "mdata.obs"

        for argument, key in (
            ("perturbation_key", perturbation_key),
            ("cell_type_key", cell_type_key),
            ("dose_key", dose_key),
        ):
            table, place = obs_of(argument)
            if key is not None and key not in table:
                raise KeyError(
                    f"{argument}={key!r} is not a column of {place}; say where it lives with "
                    f"modalities={{{argument!r}: <modality>}}."
                )
        check_expression(rna, rna_layer)
        table, place = obs_of("perturbation_key")
        check_control_value(table[perturbation_key], control_value, place)
        if "source_registry" not in kwargs:
            check_perturbation_labels(table[perturbation_key], control_value, place)
        if dose_key is not None:
            doses, dose_place = obs_of("dose_key")
            check_dose_column(doses[dose_key], table[perturbation_key], control_value, dose_place)
        fields = [
            MuDataLayerField(
                REGISTRY_KEYS.X_KEY,
                rna_layer,
                mod_key=where.rna_layer,
                is_count_data=False,
                mod_required=True,
            ),
            MuDataCategoricalObsField(
                REGISTRY_KEYS.PERTURBATION_KEY, perturbation_key, mod_key=where.perturbation_key
            ),
        ]
        if cell_type_key is not None:
            fields.append(
                MuDataCategoricalObsField(
                    REGISTRY_KEYS.CELL_TYPE_KEY, cell_type_key, mod_key=where.cell_type_key
                )
            )
        if dose_key is not None:
            fields.append(
                MuDataCategoricalObsField(REGISTRY_KEYS.DOSE_KEY, dose_key, mod_key=where.dose_key)
            )
        if covariate_keys:
            fields.append(
                MuDataCategoricalJointObsField(
                    REGISTRY_KEYS.COVARIATES_KEY, covariate_keys, mod_key=where.covariate_keys
                )
            )
        adata_manager = AnnDataManager(fields=fields, setup_method_args=setup_method_args)
        adata_manager.register_fields(mdata, **kwargs)
        cls.register_manager(adata_manager)
