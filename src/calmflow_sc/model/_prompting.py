"""Conditions a model is asked about: their checks, spellings, doses and prompts."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from anndata import AnnData

from .._constants import REGISTRY_KEYS
from ..data._doses import (
    check_dose_column,
    component_doses,
    dose_of_components,
    format_dose,
    parse_doses,
)
from ..data._prompts import check_descriptions
from ..data._validation import components
from ..nn import load_minilm
from ..nn._component_knowledge import as_embedding_frame
from ..nn._condition_encoder import CONTEXT_TREATMENT


class ConditionsMixin:
    """Conditions and their prompts: checks, spellings, doses and knowledge of components.

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

    def _prompt_inputs(self, conditions: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt inputs of conditions (:class:`~calmflow_sc.nn.ConditionPromptEncoder`)."""
        return self.condition_prompts(conditions)

    def prompts(
        self,
        adata: AnnData | pd.DataFrame,
        perturbation: str | None = None,
        dose: float | str | Mapping[str, float] | None = None,
    ) -> pd.Series:
        """The exact prompt each cell gets.

        Parameters
        ----------
        adata
            Cells (an AnnData, or a frame like its ``obs``) with the registered columns.
        perturbation
            Perturbation to describe instead of each cell's own, as :meth:`predict` does.
        dose
            Its dose, as in :meth:`predict` (models with a ``dose_key``).

        Returns
        -------
        The prompts, indexed by cell. With ``prompt_encoder="onehot"`` the text is not used
        by the model and is shown for reference; with ``"components"`` the context's text is
        followed by the components its code tokens encode, e.g. ``"... follows: [IFNB+TNF]"``.
        """
        obs = adata.obs if isinstance(adata, AnnData) else adata
        builder = self.prompt_builder
        if perturbation is not None:
            asked = perturbation
            perturbation = self._check_perturbation(perturbation)
            treatment = {builder.perturbation_key: perturbation}
            dose = self._check_dose(asked, perturbation, dose)
            if dose is not None:
                treatment[builder.dose_key] = dose
            obs = obs.assign(**treatment)
        self._check_conditions(obs)
        if self.prompt_encoder != "components":
            return pd.Series(builder.render_frame(obs), index=obs.index, name="prompt")
        texts = builder.render_frame(obs, treatment=CONTEXT_TREATMENT)
        doses = obs[builder.dose_key].tolist() if builder.dose_key else [None] * len(obs)
        codes = [
            "[" + self._code_label(p, d) + "]"
            for p, d in zip(obs[builder.perturbation_key].astype(str), doses, strict=True)
        ]
        return pd.Series(
            [text + code for text, code in zip(texts, codes, strict=True)],
            index=obs.index,
            name="prompt",
        )

    def _code_label(self, perturbation: str, dose: object | None) -> str:
        """The components a prompt's code tokens encode, sorted, each with its dose."""
        parts = self.prompt_builder.components(perturbation)
        if dose is None:
            return "+".join(sorted(parts))
        doses = component_doses(parts, dose)
        return "+".join(
            f"{part} x{format_dose(d)}" for part, d in sorted(zip(parts, doses, strict=True))
        )

    def add_perturbation_knowledge(
        self,
        descriptions: Mapping[str, str] | None = None,
        embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
    ) -> list[str]:
        """Describe perturbation components to a trained model, e.g. genes never measured.

        With ``prompt_encoder="components"``, a component that was not in the training data
        is represented by its knowledge alone: the sentence embedding of its description
        and/or its embedding, on the scale of those the model was built with. Afterwards
        :meth:`predict` and :meth:`generate` accept perturbations naming it; :meth:`save`
        keeps the knowledge, so that a loaded model needs neither the sentence encoder nor
        the embeddings. A component described again gets the new knowledge.

        Parameters
        ----------
        descriptions
            Free text per component (the model must have been built with
            ``perturbation_descriptions``).
        embeddings
            A vector per component, as a mapping or a DataFrame indexed by name, of the length
            of the model's ``perturbation_embeddings``.

        Returns
        -------
        The names of the components described.
        """
        if self.prompt_encoder != "components":
            raise ValueError(
                "Only prompt_encoder='components' represents components by their knowledge; "
                f"this model uses {self.prompt_encoder!r}. With text prompts, describe "
                "perturbations in the constructor's perturbation_descriptions."
            )
        if descriptions is None and embeddings is None:
            raise ValueError("Give descriptions=..., embeddings=..., or both.")
        return self.module.knowledge.add(
            check_descriptions(descriptions) if descriptions is not None else None,
            as_embedding_frame(embeddings) if embeddings is not None else None,
            load_minilm,
        )

    def _check_conditions(self, obs: pd.DataFrame) -> None:
        """Check the prompt's columns; warn about values never seen in training."""
        keys = self.prompt_builder.keys
        dose_key = self.prompt_builder.dose_key
        missing = [key for key in self.prompt_builder.condition_keys if key not in obs.columns]
        if missing:
            raise KeyError(
                f"Columns {missing} are missing. Each cell needs the columns the model was set "
                f"up with: {self.prompt_builder.condition_keys}."
            )
        if dose_key is not None:
            check_dose_column(obs[dose_key], obs[keys[0]], self.prompt_builder.control_value, "obs")
            unseen = sorted(
                {format_dose(d) for v in obs[dose_key].astype(str).unique() for d in parse_doses(v)}
                - {format_dose(d) for v in self.dose_levels for d in parse_doses(v)}
            )
            if unseen and self.prompt_encoder in ("lm", "minilm"):
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
            if key == keys[0] and self.prompt_encoder == "components":
                # composed from trained codes and knowledge; unknown components are refused
                self.condition_prompts.check_components(unseen)
                continue
            if unseen:
                warnings.warn(
                    f"{key} values {unseen[:5]} were never seen in training; the model only "
                    "knows them through the text of the prompt.",
                    UserWarning,
                    stacklevel=4,
                )

    def _context_codes(self, conditions: pd.DataFrame) -> torch.Tensor | None:
        """Context codes of conditions; ``None`` if any value was never seen in training."""
        # without cell types, the module's context still starts with a single cell-type code
        columns = [] if self.prompt_builder.cell_type_key else [np.zeros(len(conditions), int)]
        for key in self.prompt_builder.keys[1:]:
            index = pd.Index(self.categories_for(key))
            position = index.get_indexer(conditions[key].astype(str))
            if (position < 0).any():
                return None
            columns.append(position)
        return torch.as_tensor(np.stack(columns, axis=1), dtype=torch.long)

    def _check_perturbation(self, perturbation: object) -> str:
        """A perturbation to predict, spelled as in training.

        A non-empty label whose components are non-empty; a combination written in another
        order (``"IFNB+TNF"`` for the registered ``"TNF+IFNB"``) gets the registered spelling,
        so that the model reads the prompt it was trained on, and a combination never trained
        gets its components in sorted order, so that ``"A+B"`` and ``"B+A"`` are one prompt.
        """
        if not isinstance(perturbation, str) or not perturbation.strip():
            raise ValueError(
                f"perturbation must be a non-empty string such as 'IFNB' or 'IFNB+TNF', got "
                f"{perturbation!r}."
            )
        if any(not part.strip() for part in perturbation.split("+")):
            raise ValueError(
                f"perturbation {perturbation!r} has an empty component; combinations are "
                "written 'A+B'."
            )
        known = self.categories[REGISTRY_KEYS.PERTURBATION_KEY]
        if perturbation in known:
            return perturbation
        same = [label for label in known if components(label) == components(perturbation)]
        if same:
            return same[0]
        # a combination never trained: one spelling whatever the order it is asked in
        return "+".join(part.strip() for part in components(perturbation))

    def _check_dose(self, asked: str, perturbation: str, dose: object) -> str | None:
        """The dose of a prediction, spelled for ``perturbation`` (its registered spelling).

        ``asked`` is the perturbation as the user named it, whose order a ``"d1+d2"`` dose
        follows.
        """
        builder = self.prompt_builder
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
            return "+".join(format_dose(d) for d in parse_doses(dose))
        of = dose_of_components(builder.components(asked), dose)
        spelled = [format_dose(of[part]) for part in parts]
        return spelled[0] if len(set(spelled)) == 1 else "+".join(spelled)
