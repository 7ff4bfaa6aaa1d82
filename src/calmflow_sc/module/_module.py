"""The CaLMFlow module: Volterra flow matching with a causal language model."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scvi.module.base import BaseModuleClass, LossOutput, auto_move_data
from torch import nn

from .._constants import (
    BATCH_KEYS,
    CAUSAL_CONTEXTS,
    PROMPT_ENCODERS,
    SOURCES,
    STEP_TARGETS,
    CausalContext,
    PromptEncoder,
    Source,
    StepTarget,
    check_choice,
)
from ..data import ControlPool, PCARepresentation
from ..nn import (
    CausalLMBackbone,
    ComponentKnowledge,
    ConditionPrior,
    PromptTokenTable,
    StateTokenizer,
    VariationalHead,
)
from ._prior import prior_shift, refresh_prior_inputs, training_prompts
from ._rollout import rollout
from ._sequences import sequence_hidden


class CaLMFlowModule(BaseModuleClass):
    """Flow matching as a Volterra equation, solved by a causal language model.

    A prompt describing the condition is followed by the states ``x_0 .. x_{K-1}`` of ``P``
    trajectories, each state written as ``S`` continuous tokens. The output tokens of state
    ``x_{t, p}`` are decoded through a variational head into ``x_{t + 1, p}``. The loss is the
    squared error of the predicted next states (summed over dimensions, averaged over
    transitions) plus ``beta`` times the KL divergence of the latents from ``N(0, I)``.

    Parameters
    ----------
    n_genes
        Number of genes of the registered expression.
    n_components
        Dimension ``D`` of model space (principal components).
    backbone
        The causal language model.
    prompt_inputs
        The prompt of every (perturbation, context) pair, one row each
        (``n_perturbations * n_contexts`` rows): left-padded token ids ``(rows, length)`` for
        ``prompt_encoder="lm"``, feature vectors ``(rows, n_features)`` otherwise.
    prompt_mask
        Attention mask matching the token ids (ignored for feature prompts).
    context_sizes
        Number of categories of the cell type (1 without cell types) and of each covariate;
        their mixed-radix code is the context index of a cell.
    n_steps
        Number ``K`` of transitions of the discretised flow.
    n_spatial_tokens
        Number ``S`` of tokens per state.
    n_trajectories
        Number ``P`` of trajectories per sequence.
    n_latent
        Latent dimension per token of the variational head.
    beta
        Weight of the KL term.
    path_sigma
        Scale of Brownian-bridge noise on the paths; 0 gives straight paths.
    source
        ``"gaussian"``: paths start from ``N(0, I)`` noise. ``"control"``: paths start from
        control cells of the same context, paired with targets by exact optimal transport.
    step_target
        What the output of each state block decodes to. ``"velocity"``: the velocity
        ``K (x_{t+1} - x_t)``, with the step ``x_t + v / K`` and the loss on the velocity (as
        in flow matching, so that every step, the first one included, weighs as much as the
        whole displacement). ``"state"``: the next state itself, with the loss on the state
        (the paper). ``"endpoint"``: the end of the flow ``x_1``, with the loss on ``x_1`` at
        every time point and the step of a Brownian bridge towards the estimate (with its
        noise when ``path_sigma > 0``), so that every step re-estimates the endpoint from the
        whole history.
    variational_head
        Sample latents through the variational head with a KL term (the paper); ``False``
        decodes the latent mean deterministically, without noise or KL (an ablation).
    causal_context
        ``"full"``: each state attends to the prompt and every earlier state of the sequence
        (the Volterra history, the paper). ``"current"``: each state attends only to the
        prompt and its own time point, the same network seeing no history (an ablation).
    prompt_encoder
        ``"lm"``: prompt tokens are embedded by the language model's own table (the paper),
        followed by a trainable identity-initialised map when the backbone is not fine-tuned
        in full. ``"minilm"`` and ``"onehot"``: each prompt is a feature vector (a frozen
        sentence embedding, or one-hot codes of the condition) mapped by a trainable linear
        layer to ``n_prompt_tokens`` prefix tokens.
    n_prompt_tokens
        Number of prefix tokens of feature prompts.
    knowledge
        Prior knowledge of perturbation components (``"components"``), kept with the weights.
    n_perturbation_features
        Length of the perturbation features that follow the context's token ids
        (``"components"``; :attr:`~calmflow_sc.nn.ConditionPromptEncoder.n_perturbation_features`),
        the prior features included.
    condition_prior
        Prior effects of conditions (``"components"``), kept with the weights: the last
        perturbation features, and each flow's velocity is its prior effect plus what the
        network decodes (``step_target="velocity"``).
    as_if_codes
        The codes each row of the prompt table loses when read as if unmeasured, ``(2,
        rows, n_codes)`` (see ``module/_prior.py``).
    """

    def __init__(
        self,
        n_genes: int,
        n_components: int,
        backbone: CausalLMBackbone,
        prompt_inputs: torch.Tensor,
        prompt_mask: torch.Tensor,
        context_sizes: list[int],
        n_steps: int = 4,
        n_spatial_tokens: int = 1,
        n_trajectories: int = 1,
        n_latent: int = 32,
        beta: float = 0.01,
        path_sigma: float = 0.0,
        source: Source = "control",
        step_target: StepTarget = "velocity",
        variational_head: bool = True,
        causal_context: CausalContext = "full",
        prompt_encoder: PromptEncoder = "lm",
        n_prompt_tokens: int = 4,
        knowledge: ComponentKnowledge | None = None,
        n_perturbation_features: int = 0,
        condition_prior: ConditionPrior | None = None,
        as_if_codes: torch.Tensor | None = None,
    ):
        super().__init__()
        check_choice("prompt_encoder", prompt_encoder, PROMPT_ENCODERS)
        check_choice("causal_context", causal_context, CAUSAL_CONTEXTS)
        check_choice("source", source, SOURCES)
        check_choice("step_target", step_target, STEP_TARGETS)
        self.n_components = n_components
        self.n_steps = n_steps
        self.n_spatial_tokens = n_spatial_tokens
        self.n_trajectories = n_trajectories
        self.beta = beta
        self.path_sigma = path_sigma
        self.source = source
        self.step_target = step_target
        self.variational_head = bool(variational_head)
        self.causal_context = causal_context
        self.context_sizes = [int(size) for size in context_sizes]
        self.n_contexts = int(np.prod(self.context_sizes))

        self.representation = PCARepresentation(n_genes, n_components)
        self.backbone = backbone
        hidden_size = backbone.hidden_size
        self.state_tokenizer = StateTokenizer(
            n_components, hidden_size, n_spatial_tokens, n_steps + 1
        )
        self.head = VariationalHead(hidden_size, n_spatial_tokens, n_latent, n_components)

        # derived from the registry at every construction: not saved
        self.prompt_encoder = prompt_encoder
        self.n_prompt_tokens = int(n_prompt_tokens)
        self.prompt_tokens: PromptTokenTable | None = None
        self.knowledge = knowledge if knowledge is not None else ComponentKnowledge()
        self.n_perturbation_features = 0
        if prompt_encoder == "components":
            self.n_perturbation_features = int(n_perturbation_features)
            self.register_buffer("prompt_inputs", prompt_inputs.float(), persistent=False)
            self.register_buffer("prompt_mask", prompt_mask.long(), persistent=False)
            n_text = prompt_inputs.shape[1] - self.n_perturbation_features
            n_read = self.n_perturbation_features - (n_components if condition_prior else 0)
            self.component_projection = nn.Linear(n_read, self.n_prompt_tokens * hidden_size)
            self._init_text_prompt(backbone, prompt_inputs[:, :n_text].long())
        elif prompt_encoder == "lm":
            self.register_buffer("prompt_inputs", prompt_inputs.long(), persistent=False)
            self.register_buffer("prompt_mask", prompt_mask.long(), persistent=False)
            self._init_text_prompt(backbone, self.prompt_inputs)
        else:
            self.register_buffer("prompt_inputs", prompt_inputs.float(), persistent=False)
            self.register_buffer(
                "prompt_mask",
                torch.ones(len(prompt_inputs), self.n_prompt_tokens, dtype=torch.long),
                persistent=False,
            )
            self.prompt_projection = nn.Linear(
                prompt_inputs.shape[1], self.n_prompt_tokens * hidden_size
            )
        self.condition_prior = condition_prior if prompt_encoder == "components" else None
        if as_if_codes is None:
            as_if_codes = torch.zeros(2, len(prompt_inputs), 0, dtype=torch.bool)
        self.register_buffer("as_if_codes", as_if_codes.bool(), persistent=False)
        # fitted on the training cells: saved, resized on load
        self.register_buffer("control_states", torch.zeros(0, n_components))
        self.register_buffer("control_start", torch.zeros(self.n_contexts, dtype=torch.long))
        self.register_buffer("control_count", torch.zeros(self.n_contexts, dtype=torch.long))

    def _init_text_prompt(self, backbone: CausalLMBackbone, token_ids: torch.Tensor) -> None:
        """Embedding of prompt tokens: their own trainable rows, or a map after the table."""
        if backbone.finetune == "full":
            # the prompts' own rows train; the rest of the token table stays out of the
            # optimizer
            self.prompt_tokens = PromptTokenTable(
                backbone.transformer.get_input_embeddings(), token_ids.flatten()
            )
            self.prompt_projection = nn.Identity()
        else:
            self.prompt_projection = _identity_linear(backbone.hidden_size)

    # ------------------------------------------------------------------ data-dependent state
    _RESIZABLE_BUFFERS = ("control_states",)

    def load_state_dict(
        self, state_dict: dict[str, Any], strict: bool = True, assign: bool = False
    ):
        """Load parameters, resizing buffers whose size depends on the training cells.

        Saves written before component knowledge existed (calmflow-sc 0.2) get an empty one.
        """
        if not any(key.startswith("knowledge.") for key in state_dict):
            state_dict = dict(state_dict) | {
                f"knowledge.{key}": value for key, value in self.knowledge.state_dict().items()
            }
        for name in self._RESIZABLE_BUFFERS:
            if name in state_dict:
                setattr(
                    self, name, torch.empty_like(state_dict[name], device=self.control_start.device)
                )
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        refresh_prior_inputs(self)
        return result

    def prior_shift(self, prompt_inputs: torch.Tensor) -> torch.Tensor | None:
        """Prior effect of each prompt's condition, ``(N, D)``; ``None`` without a prior."""
        return prior_shift(self, prompt_inputs)

    def set_control_pool(self, states: torch.Tensor, contexts: np.ndarray) -> None:
        """Store control cells (model space) by context for sampling sources.

        A context without controls falls back to the controls of the same cell type, then to
        every control cell (see :class:`~calmflow_sc.data.ControlPool`).

        Parameters
        ----------
        states
            Model-space states of the control cells, ``(n_controls, D)``.
        contexts
            Context index of each control cell.
        """
        pool = ControlPool.build(states, contexts, self.n_contexts, self.context_sizes[0])
        device = self.control_start.device
        self.control_states = pool.states.to(device)
        self.control_start = pool.start.to(device)
        self.control_count = pool.count.to(device)

    @property
    def control_pool(self) -> ControlPool:
        """The stored control cells."""
        return ControlPool(self.control_states, self.control_start, self.control_count)

    def sample_controls(
        self,
        contexts: torch.Tensor,
        generator: torch.Generator | None = None,
        uniform: torch.Tensor | None = None,
    ):
        """Draw one control cell (model space) from the pool of each context."""
        return self.control_pool.sample(contexts, generator, uniform=uniform)

    # ------------------------------------------------------------------ scvi-tools contract
    def _get_inference_input(self, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
        return {
            "states": tensors[BATCH_KEYS.STATES_KEY],
            "condition": tensors[BATCH_KEYS.CONDITION_KEY],
        }

    @auto_move_data
    def inference(self, states: torch.Tensor, condition: torch.Tensor) -> dict[str, Any]:
        """Run the language model over ready training sequences.

        Parameters
        ----------
        states
            The paths in time-major order, ``(N, K + 1, P, D)``
            (:class:`~calmflow_sc.data.SequenceBuilder`).
        condition
            The condition (row of the prompt table) of each sequence, ``(N,)``.

        Returns
        -------
        ``states`` and ``sample`` (the latents of every state block). In evaluation mode (the
        validation loss) the latents are their means, so that the loss is deterministic.
        """
        inputs, mask, rows = training_prompts(self, condition)
        hidden = sequence_hidden(
            self,
            inputs,
            mask,
            states[:, :-1],
            rows=rows,
        )
        temperature = 1.0 if self.variational_head and self.training else 0.0
        sample = self.head.encode(hidden, temperature=temperature)
        offset = self.prior_shift(inputs[rows]) if self.condition_prior else None
        return {"states": states, "sample": sample, "offset": offset}

    def _get_generative_input(
        self, tensors: dict[str, torch.Tensor], inference_outputs: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "z": inference_outputs["sample"].z,
            "states": inference_outputs["states"],
            "offset": inference_outputs.get("offset"),
        }

    @auto_move_data
    def generative(
        self, z: torch.Tensor, states: torch.Tensor, offset: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """Decode the latents of each state block into the next state (plus ``offset``).

        Returns
        -------
        ``decoded``: the decoded velocities, next states or endpoints (``step_target``),
        ``(N, K, P, D)``.
        """
        decoded = self.head.decode(z)
        if offset is not None:  # a condition prior's velocity, per sequence
            decoded = decoded + offset[:, None, None].to(decoded.dtype)
        return {"decoded": decoded}

    def loss(
        self,
        tensors: dict[str, torch.Tensor],
        inference_outputs: dict[str, Any],
        generative_outputs: dict[str, torch.Tensor],
        **kwargs: Any,
    ) -> LossOutput:
        """Squared error of the decoded targets plus ``beta`` times the KL term."""
        states = inference_outputs["states"].float()
        if self.step_target == "velocity":
            target = (states[:, 1:] - states[:, :-1]) * self.n_steps
        elif self.step_target == "state":
            target = states[:, 1:]
        else:
            target = states[:, -1:].expand_as(states[:, 1:])
        decoded = generative_outputs["decoded"].float()
        reconstruction = (decoded - target).pow(2).sum(-1).mean(dim=(1, 2))
        kl = self.head.kl_divergence(inference_outputs["sample"]).float().mean(dim=(1, 2))
        if not self.variational_head:
            kl = torch.zeros_like(kl)
        loss = reconstruction.mean() + self.beta * kl.mean()
        return LossOutput(loss=loss, reconstruction_loss=reconstruction, kl_local=self.beta * kl)

    # ------------------------------------------------------------------ sampling
    @property
    def uses_path_noise(self) -> bool:
        """Whether a rollout draws bridge noise (``step_target="endpoint"``, ``path_sigma > 0``)."""
        return self.step_target == "endpoint" and self.path_sigma > 0

    def rollout(
        self,
        prompt_inputs: torch.Tensor,
        prompt_mask: torch.Tensor,
        source: torch.Tensor,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
        latent_noise: torch.Tensor | None = None,
        path_noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Write the flow from ``x_0`` to ``x_K``: :func:`~calmflow_sc.module.rollout`."""
        return rollout(
            self,
            prompt_inputs,
            prompt_mask,
            source,
            temperature,
            generator,
            use_cache,
            latent_noise,
            path_noise,
        )


def _identity_linear(width: int) -> nn.Linear:
    """A square linear map initialised to the identity."""
    layer = nn.Linear(width, width)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(width))
        layer.bias.zero_()
    return layer
