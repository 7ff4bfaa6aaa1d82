"""The user-facing methods on conditions: their prompts and knowledge of components."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from anndata import AnnData

from ..data import check_descriptions
from ..nn import CONTEXT_TREATMENT, as_embedding_frame, load_minilm


class ConditionsMixin:
    """Conditions and their prompts, and knowledge of components.

    Checks, spellings and codes of conditions belong to the model's ``condition_space``
    (:class:`~calmflow_sc.data.ConditionSpace`).

    A part of :class:`~calmflow_sc.CaLMFlowPerturb`, which combines it with scvi-tools'
    base classes.
    """

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
            perturbation = self.condition_space.check_perturbation(perturbation)
            treatment = {builder.perturbation_key: perturbation}
            dose = self.condition_space.check_dose(asked, perturbation, dose)
            if dose is not None:
                treatment[builder.dose_key] = dose
            obs = obs.assign(**treatment)
        self.condition_space.check_conditions(
            obs, self.prompt_encoder, self.condition_prompts.check_components
        )
        if self.prompt_encoder != "components":
            return pd.Series(builder.render_frame(obs), index=obs.index, name="prompt")
        texts = builder.render_frame(obs, treatment=CONTEXT_TREATMENT)
        doses = obs[builder.dose_key].tolist() if builder.dose_key else [None] * len(obs)
        codes = [
            "[" + self.condition_space.code_label(p, d) + "]"
            for p, d in zip(obs[builder.perturbation_key].astype(str), doses, strict=True)
        ]
        return pd.Series(
            [text + code for text, code in zip(texts, codes, strict=True)],
            index=obs.index,
            name="prompt",
        )

    def add_perturbation_knowledge(
        self,
        descriptions: Mapping[str, str] | None = None,
        embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
    ) -> list[str]:
        """Describe perturbation components to a trained model, e.g. genes never measured.

        With ``prompt_encoder="components"``, a component that was not in the training data
        is placed among the trained components by its knowledge: its soft code weighs the
        trained components by the similarity of their knowledge to its own (the sentence
        embedding of its description and/or its embedding). Afterwards :meth:`predict` and
        :meth:`generate` accept perturbations naming it.

        Knowledge can be given after training even to a model built without
        ``perturbation_descriptions`` or ``perturbation_embeddings``: give it for trained
        components too, since those are what an unmeasured one is compared with, e.g. a
        DataFrame of gene embeddings whose rows cover the trained genes and the new ones. A
        kind of knowledge the model has none of yet is accepted at any width and scaled on
        the components given now; later additions of that kind must have the same width.
        Trained components are always read from their learned codes, so their predictions
        do not change. :meth:`save` keeps the knowledge, so that a loaded model needs
        neither the sentence encoder nor the embeddings. A component described again gets
        the new knowledge; adding a kind the model lacked also changes the similarities, so
        the placement, of components added before.

        Parameters
        ----------
        descriptions
            Free text per component, embedded by all-MiniLM-L6-v2 as ``"NAME: text"``.
        embeddings
            A vector per component, as a mapping or a DataFrame indexed by name.

        Returns
        -------
        The names of the components described.

        Raises
        ------
        ValueError
            If the knowledge would describe no trained component, or embeddings have another
            length than the model's (nothing is added then).

        Examples
        --------
        >>> model.train()  # built without knowledge
        >>> model.add_perturbation_knowledge(embeddings=gene_embeddings)  # trained + new genes
        >>> model.predict(controls, perturbation="IFNGR2")  # a gene never measured
        """
        if self.prompt_encoder != "components":
            raise ValueError(
                "Only prompt_encoder='components' represents components by their knowledge; "
                f"this model uses {self.prompt_encoder!r}. With text prompts, describe "
                "perturbations in the constructor's perturbation_descriptions."
            )
        if descriptions is None and embeddings is None:
            raise ValueError("Give descriptions=..., embeddings=..., or both.")
        return self.condition_prompts.add_knowledge(
            check_descriptions(descriptions) if descriptions is not None else None,
            as_embedding_frame(embeddings) if embeddings is not None else None,
            load_minilm,
        )
