"""The conditions a model knows: registered perturbations, doses and contexts, and their index.

A condition is a treatment (a perturbation at a dose) in a context (a cell type and the
values of the covariates). :class:`ConditionSpace` is the one owner of how ``obs`` columns
become conditions, for training, prediction and generation alike: the table of every
registered condition, the index of a condition in it, the codes of contexts, and the checks
and spellings of conditions a user asks about.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from .._constants import REGISTRY_KEYS
from .._suggest import did_you_mean
from ._condition_table import condition_table, context_radix
from ._doses import (
    check_dose_column,
    component_doses,
    dose_of_components,
    format_dose,
    format_doses,
    parse_doses,
)
from ._labels import canonical_label, has_empty_component, join_components
from ._prompts import PromptBuilder


class RegisteredConditions(NamedTuple):
    """The condition of every registered cell."""

    #: whether the cell is a control
    is_control: np.ndarray
    #: its row in :meth:`ConditionSpace.table`
    conditions: np.ndarray
    #: its context index
    contexts: np.ndarray


class ConditionSpace:
    """The registered conditions of a model, their table, index and lookups.

    Rows of :meth:`table` are ordered perturbation-major, then by dose, then by the
    mixed-radix context index of cell type and covariates, so that row
    ``treatment * n_contexts + context`` is a cell's condition, where ``treatment`` is
    ``perturbation * n_doses + dose``. Per-condition inputs line up with these rows.

    Parameters
    ----------
    builder
        Names the columns (perturbation, cell type, covariates, dose).
    perturbations
        Registered perturbation categories.
    cell_types
        Registered cell-type categories, or ``None`` without cell types (one context code).
    covariates
        Registered categories of each covariate, in the order of ``builder.covariate_keys``.
    doses
        Registered doses (spelled by :func:`~calmflow_sc.data.format_dose`), or ``None``
        without a dose column.
    """

    def __init__(
        self,
        builder: PromptBuilder,
        perturbations: Sequence[str],
        cell_types: Sequence[str] | None = None,
        covariates: Sequence[Sequence[str]] = (),
        doses: Sequence[str] | None = None,
    ) -> None:
        self.builder = builder
        self.perturbations = [str(p) for p in perturbations]
        self.cell_types = None if cell_types is None else [str(c) for c in cell_types]
        self.covariates = [[str(v) for v in levels] for levels in covariates]
        self.doses = None if doses is None else [str(d) for d in doses]

    @classmethod
    def from_categories(
        cls, builder: PromptBuilder, categories: Mapping[str, list[str]]
    ) -> ConditionSpace:
        """The space of a model's registered categories (``model.categories``)."""
        return cls(
            builder,
            categories[REGISTRY_KEYS.PERTURBATION_KEY],
            categories.get(REGISTRY_KEYS.CELL_TYPE_KEY),
            [categories[key] for key in builder.covariate_keys],
            categories.get(REGISTRY_KEYS.DOSE_KEY),
        )

    # ------------------------------------------------------------------ the table
    @property
    def context_keys(self) -> list[str]:
        """The columns of a context: the cell type (if any), then the covariates."""
        return self.builder.keys[1:]

    @property
    def levels(self) -> dict[str, list[str]]:
        """The registered categories of every context column."""
        return {key: self.categories_for(key) for key in self.context_keys}

    @property
    def context_sizes(self) -> list[int]:
        """Number of codes of each context column (one cell-type code without cell types)."""
        sizes = [len(self.cell_types) if self.cell_types is not None else 1]
        return sizes + [len(levels) for levels in self.covariates]

    @property
    def context_radix(self) -> np.ndarray:
        """Place values of the context index (:func:`context_radix`)."""
        return context_radix(self.context_sizes)

    @property
    def n_contexts(self) -> int:
        """Number of contexts (cell type x covariates)."""
        return int(np.prod(self.context_sizes))

    @property
    def n_doses(self) -> int:
        """Number of registered doses (one without a dose column)."""
        return len(self.doses) if self.doses is not None else 1

    @property
    def n_treatments(self) -> int:
        """Number of treatments (perturbation x dose)."""
        return len(self.perturbations) * self.n_doses

    @property
    def n_conditions(self) -> int:
        """Number of registered conditions, the rows of :meth:`table`."""
        return self.n_treatments * self.n_contexts

    def categories_for(self, key: str) -> list[str]:
        """Registered categories of an obs column the model reads."""
        builder = self.builder
        if key == builder.perturbation_key:
            return self.perturbations
        if key == builder.dose_key:
            return self.doses
        if key == builder.cell_type_key:
            return self.cell_types
        return self.covariates[list(builder.covariate_keys).index(key)]

    def table(self) -> pd.DataFrame:
        """Every registered (perturbation, dose, cell type, covariates) condition, one row each.

        Some rows pair a perturbation with a dose no cell has (a dose for two components
        with a single); they are placeholders.

        Returns
        -------
        A frame with the columns ``builder.condition_keys``, row :meth:`condition_index`
        of each condition.

        Raises
        ------
        ValueError
            If there are more than ``MAX_CONDITIONS`` conditions.
        """
        return condition_table(
            self.builder, self.perturbations, self.cell_types, self.covariates, self.doses
        )

    # ------------------------------------------------------------------ the index
    def context_index(self, codes: np.ndarray) -> np.ndarray:
        """The context index of context codes ``(n, n_context_columns)``."""
        return (np.asarray(codes).astype(np.int64) * self.context_radix).sum(-1)

    def treatment_index(
        self, perturbations: np.ndarray, doses: np.ndarray | None = None
    ) -> np.ndarray:
        """The treatment of perturbation codes (and dose codes, with a dose column)."""
        perturbations = np.asarray(perturbations).ravel().astype(np.int64)
        if doses is None:
            return perturbations
        return perturbations * self.n_doses + np.asarray(doses).ravel().astype(np.int64)

    def condition_index(self, treatments: np.ndarray, contexts: np.ndarray) -> np.ndarray:
        """The row of :meth:`table` of each (treatment, context index) pair."""
        return treatments * self.n_contexts + contexts

    def registered_conditions(self, manager: Any) -> RegisteredConditions:
        """The condition of every cell an ``AnnDataManager`` registered.

        Parameters
        ----------
        manager
            The model's ``AnnDataManager``: its registered perturbation, dose, cell-type and
            covariate codes are read.
        """
        registry = manager.data_registry
        perturbation = np.asarray(manager.get_from_registry(REGISTRY_KEYS.PERTURBATION_KEY))
        perturbation = perturbation.ravel().astype(np.int64)
        is_control = perturbation == self.perturbations.index(self.builder.control_value)
        dose = None
        if REGISTRY_KEYS.DOSE_KEY in registry:
            dose = np.asarray(manager.get_from_registry(REGISTRY_KEYS.DOSE_KEY))
        treatments = self.treatment_index(perturbation, dose)
        codes = [
            np.asarray(manager.get_from_registry(REGISTRY_KEYS.CELL_TYPE_KEY)).reshape(-1, 1)
            if REGISTRY_KEYS.CELL_TYPE_KEY in registry
            else np.zeros((len(perturbation), 1))
        ]
        if REGISTRY_KEYS.COVARIATES_KEY in registry:
            codes.append(np.asarray(manager.get_from_registry(REGISTRY_KEYS.COVARIATES_KEY)))
        contexts = self.context_index(np.concatenate(codes, axis=1))
        return RegisteredConditions(
            is_control, self.condition_index(treatments, contexts), contexts
        )

    def context_codes(self, conditions: pd.DataFrame) -> torch.Tensor | None:
        """Context codes of conditions; ``None`` if any value was never registered."""
        # without cell types, the context still starts with a single cell-type code
        columns = [] if self.builder.cell_type_key else [np.zeros(len(conditions), int)]
        for key in self.context_keys:
            index = pd.Index(self.categories_for(key))
            position = index.get_indexer(conditions[key].astype(str))
            if (position < 0).any():
                return None
            columns.append(position)
        return torch.as_tensor(np.stack(columns, axis=1), dtype=torch.long)

    def condition_rows(self, conditions: pd.DataFrame) -> np.ndarray:
        """The row of :meth:`table` of each condition; ``-1`` where it was never registered.

        Perturbations are looked up as spelled (see :meth:`check_perturbation`); doses by
        their numbers (``1.0`` is ``"1"``). Per-condition inputs are read at these rows.
        """
        builder = self.builder
        perturbation = pd.Index(self.perturbations).get_indexer(
            conditions[builder.perturbation_key].astype(str)
        )
        known = perturbation >= 0
        dose = None
        if self.doses is not None:
            spelled = [format_doses(parse_doses(v)) for v in conditions[builder.dose_key]]
            dose = pd.Index(self.doses).get_indexer(spelled)
            known &= dose >= 0
        columns = [] if builder.cell_type_key else [np.zeros(len(conditions), np.int64)]
        for key in self.context_keys:
            position = pd.Index(self.categories_for(key)).get_indexer(conditions[key].astype(str))
            known &= position >= 0
            columns.append(position)
        contexts = self.context_index(np.stack(columns, axis=1))
        rows = self.condition_index(self.treatment_index(perturbation, dose), contexts)
        return np.where(known, rows, -1)

    # ------------------------------------------------------------------ asked conditions
    def check_perturbation(self, perturbation: object) -> str:
        """A perturbation to predict, spelled as registered (:func:`canonical_label`).

        Raises
        ------
        ValueError
            If it is not a non-empty label whose components are non-empty.
        """
        if not isinstance(perturbation, str) or not perturbation.strip():
            raise ValueError(
                f"perturbation must be a non-empty string such as 'IFNB' or 'IFNB+TNF', got "
                f"{perturbation!r}."
            )
        if has_empty_component(perturbation):
            raise ValueError(
                f"perturbation {perturbation!r} has an empty component; combinations are "
                "written 'A+B'."
            )
        return canonical_label(perturbation, self.perturbations)

    def check_dose(self, asked: str, perturbation: str, dose: object) -> str | None:
        """The dose of a prediction, spelled for ``perturbation`` (its registered spelling).

        ``asked`` is the perturbation as the user named it, whose order a ``"d1+d2"`` dose
        follows.
        """
        builder = self.builder
        if builder.dose_key is None:
            if dose is not None:
                raise ValueError(
                    "This model was set up without a dose_key, so it reads no doses; leave "
                    "dose=None, or set the data up with setup_anndata(dose_key=...) and train "
                    "a new model."
                )
            return None
        parts = builder.components(perturbation)
        if dose is None:
            if not parts:
                return format_dose(0)
            raise ValueError(
                f"This model reads doses (dose_key={builder.dose_key!r}): pass the dose of "
                f"{perturbation!r}, e.g. dose=1.0, dose='1+0.5' for a combination, or a "
                "mapping of component to dose."
            )
        if not parts:
            return format_doses(parse_doses(dose))
        of = dose_of_components(builder.components(asked), dose)
        spelled = [format_dose(of[part]) for part in parts]
        return spelled[0] if len(set(spelled)) == 1 else join_components(spelled)

    def check_conditions(
        self,
        obs: pd.DataFrame,
        prompt_encoder: str,
        check_components: Callable[[list[str]], None],
    ) -> None:
        """Check the condition columns of cells; warn about values never registered.

        Parameters
        ----------
        obs
            The cells' conditions.
        prompt_encoder
            The model's ``prompt_encoder``: with ``"components"`` unregistered perturbations
            are composed from their components, which ``check_components`` checks; with text
            prompts unregistered values are read through their text, with a warning.
        check_components
            Raises on unregistered perturbations whose components the model cannot represent.
        """
        builder = self.builder
        keys = builder.keys
        missing = [key for key in builder.condition_keys if key not in obs.columns]
        if missing:
            raise KeyError(
                f"Columns {missing} are missing. Each cell needs the columns the model was set "
                f"up with: {builder.condition_keys}."
            )
        if builder.dose_key is not None:
            check_dose_column(obs[builder.dose_key], obs[keys[0]], builder.control_value, "obs")
            unseen = sorted(
                {
                    format_dose(d)
                    for v in obs[builder.dose_key].astype(str).unique()
                    for d in parse_doses(v)
                }
                - {format_dose(d) for v in self.doses for d in parse_doses(v)}
            )
            if unseen and prompt_encoder in ("lm", "minilm"):
                warnings.warn(
                    f"doses {unseen[:5]} were never seen in training; the model only knows them "
                    "through the text of the prompt.",
                    UserWarning,
                    stacklevel=4,
                )
        for key in keys:
            if obs[key].isna().any():
                raise ValueError(f"Column {key!r} has missing values; fill or drop them.")
            unseen = sorted(set(obs[key].astype(str)) - set(self.categories_for(key)))
            if key == keys[0] and prompt_encoder == "components":
                # composed from trained codes and knowledge; unknown components are refused
                check_components(unseen)
                continue
            if unseen:
                known = self.categories_for(key)
                hints = "".join(did_you_mean(value, known, n=1) for value in unseen[:3])
                warnings.warn(
                    f"{key} values {unseen[:5]} were never seen in training; the model only "
                    f"knows them through the text of the prompt.{hints}",
                    UserWarning,
                    stacklevel=4,
                )

    def code_label(self, perturbation: str, dose: object | None) -> str:
        """The components a prompt's code tokens encode, sorted, each with its dose."""
        parts = self.builder.components(perturbation)
        if dose is None:
            return join_components(sorted(parts))
        doses = component_doses(parts, dose)
        return join_components(
            f"{part} x{format_dose(d)}" for part, d in sorted(zip(parts, doses, strict=True))
        )
