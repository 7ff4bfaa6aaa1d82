"""One encoder of conditions into prompt inputs, for training and for prediction alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from .._suggest import close_matches
from ..data import ConditionEncoder, PromptBuilder, component_doses, distinct_treatments
from ._component_knowledge import ComponentKnowledge, TextEncoder, UnknownComponentError
from ._condition_prior import ConditionPrior

#: The perturbation's phrase in the context prompt of component codes (the codes follow it).
CONTEXT_TREATMENT = "the perturbation that follows"
#: Temperature of the softmax of knowledge cosines that weighs a component's neighbours.
NEIGHBOUR_TEMPERATURE = 0.1

Tokenize = Callable[[list[str]], tuple[torch.Tensor, torch.Tensor]]
TextEmbedder = Callable[[list[str]], torch.Tensor]


class ConditionPromptEncoder:
    """Turn conditions (perturbation, cell type, covariates) into a model's prompt inputs.

    The model's table of training prompts and every prompt of :meth:`predict` and
    :meth:`generate` are built by this one object, so that a registered condition gets the
    same input in both.

    ``kind`` is the model's ``prompt_encoder``:

    ``"lm"``
        The rendered prompt's token ids and attention mask, left-padded (the paper).
    ``"minilm"``
        The rendered prompt's all-MiniLM-L6-v2 embedding.
    ``"onehot"``
        One-hot codes of cell type and covariates and the multi-hot code of the components.
    ``"components"``
        The prompt's context part as token ids (``"Generate a B cell under the perturbation
        that follows: "``), followed by the perturbation's features: the codes of its
        components and their number. A trained component has its own code (a one-hot over
        the trained components); a component never trained but with knowledge
        (:class:`ComponentKnowledge`) gets *soft* code, its neighbours among the trained
        components: a softmax, at temperature ``NEIGHBOUR_TEMPERATURE``, of the cosine
        similarities of its knowledge vector with theirs. Codes are summed over the
        components, so that ``A+B`` and ``B+A`` are one input by construction, and the
        model meets an unmeasured component as a mixture of components it has learned. The
        features are packed after the token ids in one float tensor (exact for token ids
        below 2**24); the mask covers the tokens and the ``n_prompt_tokens`` code tokens.
        With a ``prior``, each condition's prior features (:class:`ConditionPrior`: its prior
        effect, support and kind) follow the codes, and a component never measured has no
        code: its knowledge is read through the prior.

    With a dose column (the builder's ``dose_key``), each component's code is multiplied by
    its dose (``"components"``, ``"onehot"``), and text prompts name the doses.

    Parameters
    ----------
    kind
        One of ``"lm"``, ``"minilm"``, ``"onehot"``, ``"components"``.
    builder
        Renders the text prompts.
    tokenize
        The language model's tokenizer (``CausalLMBackbone.tokenize``).
    levels
        Known values of every context column (cell type, covariates), for one-hot codes.
    perturbations
        The training perturbations; their components, sorted, are the trained components.
    knowledge
        Prior knowledge of components (``"components"`` only).
    n_prompt_tokens
        Prefix tokens of feature prompts.
    embed_texts
        Returns the sentence encoder (``"minilm"``).
    prior
        Prior effects of conditions (``"components"`` only).
    """

    def __init__(
        self,
        kind: str,
        builder: PromptBuilder,
        tokenize: Tokenize,
        levels: dict[str, list[str]],
        perturbations: Sequence[str],
        knowledge: ComponentKnowledge | None = None,
        n_prompt_tokens: int = 4,
        embed_texts: Callable[[], TextEmbedder] | None = None,
        prior: ConditionPrior | None = None,
    ):
        self.kind = kind
        self.builder = builder
        self.tokenize = tokenize
        self.onehot = ConditionEncoder(levels, perturbations, builder.control_value)
        #: the components of the training perturbations, in code order
        self.trained_components: list[str] = self.onehot.perturbation_components
        self.knowledge = knowledge if knowledge is not None else ComponentKnowledge()
        self.n_prompt_tokens = int(n_prompt_tokens)
        self.embed_texts = embed_texts
        self.prior = prior

    # ------------------------------------------------------------------ components
    def components(self, perturbation: str) -> list[str]:
        """The components of a perturbation (none for the control)."""
        return self.onehot.components(perturbation)

    @property
    def n_codes(self) -> int:
        """Number of trained components (the multi-hot part of the features)."""
        return len(self.trained_components)

    @property
    def n_prior_features(self) -> int:
        """Length of a condition's prior features (0 without a prior)."""
        return self.prior.n_features if self.prior is not None else 0

    @property
    def n_perturbation_features(self) -> int:
        """Length of a condition's features for ``"components"``: codes, count and prior."""
        return self.n_codes + 1 + self.n_prior_features

    def neighbours(self, component: str) -> torch.Tensor:
        """Weights of the trained components most like ``component`` (sum 1), ``(n_codes,)``.

        A softmax of the cosine similarities of the knowledge vectors, over the trained
        components with knowledge other than ``component`` itself; zeros when there are none.
        """
        weights = torch.zeros(self.n_codes)
        candidates = [
            i
            for i, name in enumerate(self.trained_components)
            if name in self.knowledge and name != component
        ]
        if component not in self.knowledge or not candidates:
            return weights
        names = [self.trained_components[i] for i in candidates]
        vectors = torch.nn.functional.normalize(self.knowledge.lookup([component, *names]), dim=1)
        similarity = vectors[1:] @ vectors[0]
        weights[candidates] = torch.softmax(similarity / NEIGHBOUR_TEMPERATURE, dim=0)
        return weights

    def as_if_unmeasured_codes(self, perturbations: Sequence[str]) -> torch.Tensor:
        """The codes each perturbation loses when read as if unmeasured, ``(2, n, n_codes)``.

        First: a single perturbation's own code (a combination keeps its codes); second: also
        a combination's first component's code (:meth:`ConditionPrior.estimate`, ``partial``).
        """
        code_of = {name: i for i, name in enumerate(self.trained_components)}
        masks = torch.zeros(2, len(perturbations), self.n_codes, dtype=torch.bool)
        for row, perturbation in enumerate(perturbations):
            parts = self.components(perturbation)
            if len(parts) == 1 and parts[0] in code_of:
                masks[:, row, code_of[parts[0]]] = True
            elif len(parts) > 1 and all(part in code_of for part in parts):
                masks[1, row, code_of[parts[0]]] = True
        return masks

    def unknown_components(self, perturbations: Sequence[str]) -> list[str]:
        """Components that are neither trained nor described, in order of appearance."""
        trained = set(self.trained_components)
        unknown = {}
        for perturbation in dict.fromkeys(map(str, perturbations)):
            for part in self.components(perturbation):
                if part not in trained and part not in self.knowledge:
                    unknown[part] = None
        return list(unknown)

    @property
    def described_trained(self) -> list[str]:
        """Trained components with knowledge: where unmeasured ones can be placed."""
        return [name for name in self.trained_components if name in self.knowledge]

    def check_components(self, perturbations: Sequence[str]) -> None:
        """Refuse components the model cannot represent (``"components"`` only).

        Raises
        ------
        UnknownComponentError
            Naming each such component and how to describe it.
        """
        if self.kind != "components":
            return
        unknown = self.unknown_components(perturbations)
        if not unknown and not self.described_trained:
            unplaced = [
                part
                for p in dict.fromkeys(map(str, perturbations))
                for part in self.components(p)
                if part not in set(self.trained_components)
            ]
            if unplaced:
                raise UnknownComponentError(
                    f"Perturbation component(s) {unplaced[:10]} were never measured, and none of "
                    "the trained components has a description or embedding to compare them "
                    "with. Describe the trained components too (perturbation_descriptions / "
                    "perturbation_embeddings, or model.add_perturbation_knowledge)."
                )
        if not unknown:
            return
        if self.knowledge.dim == 0:
            how = (
                "This model holds no perturbation_descriptions or perturbation_embeddings; to "
                "predict components never measured, give it knowledge of them and of the "
                "trained components to compare them with: model.add_perturbation_knowledge("
                "descriptions={name: text} and/or embeddings=a DataFrame indexed by name), "
                f"naming the new components and trained ones such as {self.trained_components[:3]}."
            )
        else:
            kinds = []
            if self.knowledge.description_dim:
                kinds.append("descriptions={name: text}")
            if self.knowledge.embedding_dim:
                kinds.append(f"embeddings={{name: vector of {self.knowledge.embedding_dim}}}")
            how = (
                "Describe them with model.add_perturbation_knowledge("
                + " or ".join(kinds)
                + "), or name them in the constructor's perturbation_descriptions / "
                "perturbation_embeddings."
            )
        raise UnknownComponentError(
            f"Perturbation component(s) {unknown[:10]} were never measured in training and "
            f"the model has no description or embedding of them.{self.spelling_hint(unknown)} "
            f"{how}"
        )

    def close_matches(self, name: str, n: int = 3) -> list[str]:
        """Known components (trained or with knowledge) spelled like ``name``, closest first.

        Matches ignore case (``"ifngr2"`` finds ``"IFNGR2"``) and allow typos (``"IFGNR2"``
        finds it too), as :func:`calmflow_sc._suggest.close_matches` finds them.
        """
        return close_matches(name, [*self.trained_components, *self.knowledge.names], n=n)

    def spelling_hint(self, names: Sequence[str]) -> str:
        """``" Did you mean 'IFNGR2' for 'IFGNR2'?"`` for the names with close matches, or ``""``."""
        hints = []
        for name in names:
            matches = self.close_matches(name)
            if matches:
                hints.append(f"{' or '.join(map(repr, matches))} for {name!r}")
        return f" Did you mean {'; '.join(hints)}?" if hints else ""

    def add_knowledge(
        self,
        descriptions: Mapping[str, str] | None,
        embeddings: pd.DataFrame | None,
        encode_texts: Callable[[], TextEncoder] | None = None,
    ) -> list[str]:
        """Add knowledge of components, e.g. to a trained model; return their names.

        The knowledge must let unmeasured components be placed among the trained ones: a kind
        of knowledge the model has none of yet (embeddings, descriptions) must name trained
        components too, and afterwards some trained component must have knowledge. Trained
        components keep their own codes, so their inputs do not change.

        Raises
        ------
        ValueError
            If the knowledge would describe no trained component (nothing is added).
        """
        trained = self.trained_components
        given = {
            "perturbation_embeddings": (
                list(embeddings.index) if embeddings is not None else [],
                self.knowledge.embedding_dim,
                "embeddings",
            ),
            "perturbation_descriptions": (
                list(descriptions or ()),
                self.knowledge.description_dim,
                "descriptions",
            ),
        }
        example = f"trained components such as {trained[:3]}"
        for kind, (names, width, argument) in given.items():
            if names and not width and not set(names) & set(trained):
                raise ValueError(
                    f"None of the {kind} given names a trained component, and the model has "
                    f"no {kind} yet. A component never measured is placed by comparing its "
                    "knowledge with that of the trained components: give theirs too, e.g. "
                    f"model.add_perturbation_knowledge({argument}=...) naming {example} as well "
                    "as the new components."
                )
        named = {name for names, _, _ in given.values() for name in names}
        if not self.described_trained and not named & set(trained):
            raise ValueError(
                "Neither the knowledge given nor the model's names a trained component, so a "
                "component never measured cannot be compared with any: give the knowledge of "
                f"{example} too."
            )
        return self.knowledge.add(descriptions, embeddings, encode_texts)

    def perturbation_features(
        self,
        perturbations: Sequence[str],
        doses: Sequence[object] | None = None,
        strict: bool = True,
    ) -> torch.Tensor:
        """Features of perturbations: the (soft) codes of their components and their count.

        With ``doses`` (one per perturbation: a number, or one per component joined by
        ``"+"``), each component's code is scaled by its dose.

        Returns
        -------
        ``(len(perturbations), n_perturbation_features)``, float32.
        """
        self.check_components(perturbations)
        code_of = {name: i for i, name in enumerate(self.trained_components)}
        treatments, rows = distinct_treatments(perturbations, doses)
        features = torch.zeros(len(treatments), self.n_codes + 1)
        for row, (perturbation, dose) in enumerate(treatments):
            parts = self.components(perturbation)
            for part, scale in zip(parts, component_doses(parts, dose, strict), strict=True):
                if part in code_of:
                    features[row, code_of[part]] += scale
                elif self.prior is None:  # never measured: placed among those it resembles
                    features[row, : self.n_codes] += scale * self.neighbours(part)
            features[row, self.n_codes] = float(len(parts))
        return features[torch.as_tensor(rows, dtype=torch.long)]

    # ------------------------------------------------------------------ prompts
    def __call__(
        self, conditions: pd.DataFrame, strict: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompt inputs and mask of every row of ``conditions`` (the builder's columns).

        Identical conditions are encoded once. ``strict=False`` accepts doses that do not fit
        their perturbation (giving it zero codes): the placeholder rows of the table of every
        registered perturbation x dose x context, which no cell has.
        """
        keys = self.builder.condition_keys
        frame = conditions[keys].astype(str).reset_index(drop=True)
        rows = pd.factorize(frame.agg("\x1f".join, axis=1))[0]
        unique = frame.iloc[np.unique(rows, return_index=True)[1]].reset_index(drop=True)
        inputs, mask = self._encode(unique, strict)
        return inputs[rows], mask[rows]

    def _doses(self, unique: pd.DataFrame) -> list[str] | None:
        dose_key = self.builder.dose_key
        return unique[dose_key].tolist() if dose_key is not None else None

    def _encode(self, unique: pd.DataFrame, strict: bool) -> tuple[torch.Tensor, torch.Tensor]:
        keys = self.builder.keys
        feature_mask = torch.ones(len(unique), self.n_prompt_tokens, dtype=torch.long)
        if self.kind == "onehot":
            features = self.onehot.encode(
                unique[keys[1:]], unique[keys[0]].tolist(), self._doses(unique), strict
            )
            return torch.as_tensor(features, dtype=torch.float32), feature_mask
        if not strict and self.builder.dose_key is not None and self.kind != "components":
            unique = unique.assign(**{self.builder.dose_key: self._fitting_doses(unique)})
        if self.kind == "minilm":
            return self.embed_texts()(self.builder.render_frame(unique)), feature_mask
        if self.kind == "lm":
            return self.tokenize(self.builder.render_frame(unique))
        features = self.perturbation_features(unique[keys[0]].tolist(), self._doses(unique), strict)
        if self.prior is not None:
            features = torch.cat([features, self.prior.features(self.prior.estimate(unique))], 1)
        ids, mask = self.tokenize(self.builder.render_frame(unique, treatment=CONTEXT_TREATMENT))
        inputs = torch.cat([ids.float(), features], dim=1)
        return inputs, torch.cat([mask, feature_mask], dim=1)

    def _fitting_doses(self, unique: pd.DataFrame) -> list[str]:
        """Each row's dose, or ``"0"`` where it does not fit the row's perturbation."""
        fitting = []
        for perturbation, dose in zip(
            unique[self.builder.perturbation_key], unique[self.builder.dose_key], strict=True
        ):
            try:
                component_doses(self.components(perturbation), dose)
                fitting.append(dose)
            except ValueError:
                fitting.append("0")
        return fitting
