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
from ..data import ControlPool, PCARepresentation, context_radix
from ..nn import (
    CausalLMBackbone,
    ComponentKnowledge,
    PromptTokenTable,
    StateTokenizer,
    VariationalHead,
)


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
        (``"components"``; :attr:`~calmflow_sc.nn.ConditionPromptEncoder.n_perturbation_features`).
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
            self.component_projection = nn.Linear(
                self.n_perturbation_features, self.n_prompt_tokens * hidden_size
            )
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
        radix = context_radix(self.context_sizes)
        self.register_buffer("context_radix", torch.as_tensor(radix), persistent=False)
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
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

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

    def context_index(self, codes: torch.Tensor) -> torch.Tensor:
        """Mixed-radix context index from cell-type and covariate codes ``(n, n_keys)``."""
        return (codes.long() * self.context_radix).sum(-1)

    def sample_controls(
        self,
        contexts: torch.Tensor,
        generator: torch.Generator | None = None,
        uniform: torch.Tensor | None = None,
    ):
        """Draw one control cell (model space) from the pool of each context."""
        return self.control_pool.sample(contexts, generator, uniform=uniform)

    # ------------------------------------------------------------------ sequences
    def embed_prompt(self, prompt_inputs: torch.Tensor) -> torch.Tensor:
        """Prompt tokens ``(N, L, H)`` from token ids or feature vectors."""
        if self.prompt_encoder == "lm":
            return self._embed_text(prompt_inputs)
        if self.prompt_encoder == "components":
            n_text = prompt_inputs.shape[1] - self.n_perturbation_features
            text = self._embed_text(prompt_inputs[:, :n_text].long())
            features = prompt_inputs[:, n_text:].to(self.component_projection.weight.dtype)
            codes = self.component_projection(features).view(
                len(features), self.n_prompt_tokens, -1
            )
            return torch.cat([text, codes.to(text.dtype)], dim=1)
        tokens = self.prompt_projection(prompt_inputs.to(self.prompt_projection.weight.dtype))
        return tokens.view(len(prompt_inputs), self.n_prompt_tokens, -1)

    def _embed_text(self, token_ids: torch.Tensor) -> torch.Tensor:
        if self.prompt_tokens is not None:
            return self.prompt_tokens(token_ids, self.backbone.embed_tokens)
        return self.prompt_projection(self.backbone.embed_tokens(token_ids))

    def distinct_prompts(
        self, prompt_inputs: torch.Tensor, prompt_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The distinct prompts among ``N`` and which one each sequence has.

        Returns
        -------
        Distinct inputs and masks, and the row of each sequence among them, ``(N,)``.
        """
        key = prompt_inputs.float()
        if self.prompt_encoder in ("lm", "components"):
            key = torch.cat([key, prompt_mask.to(key.dtype)], 1)
        _, rows = torch.unique(key, dim=0, return_inverse=True)
        first = torch.full((int(rows.max()) + 1,), len(rows), dtype=torch.long, device=rows.device)
        first = first.scatter_reduce(0, rows, torch.arange(len(rows), device=rows.device), "amin")
        return prompt_inputs[first], prompt_mask[first], rows

    def prompt_prefix(
        self, prompt_inputs: torch.Tensor, prompt_mask: torch.Tensor, rows: torch.Tensor
    ) -> tuple[Any, torch.Tensor]:
        """Key/value cache of the prompt of every sequence, each distinct prompt encoded once.

        Parameters
        ----------
        prompt_inputs, prompt_mask
            Distinct left-padded prompts, ``(U, L)``.
        rows
            The prompt of each of the ``N`` sequences.

        Returns
        -------
        The cache and the prompt mask of every sequence, ``(N, L)``.
        """
        embeds = self.embed_prompt(prompt_inputs)
        cache = self.backbone.prefix_cache(embeds, prompt_mask, rows)
        return cache, prompt_mask[rows]

    def _continue(
        self,
        cache: Any,
        mask: torch.Tensor,
        tokens: torch.Tensor,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Any, torch.Tensor]:
        """Run tokens ``(N, n, H)`` after the cached part; return outputs, cache and mask."""
        start = mask.sum(1, keepdim=True)
        position_ids = start + torch.arange(tokens.shape[1], device=tokens.device)
        mask = torch.cat([mask, mask.new_ones(tokens.shape[:2])], dim=1)
        hidden, cache = self.backbone(
            tokens, mask, position_ids, past_key_values=cache, use_cache=use_cache
        )
        return hidden, cache, mask

    def sequence_hidden(
        self,
        prompt_inputs: torch.Tensor,
        prompt_mask: torch.Tensor,
        states: torch.Tensor,
        first_time: int = 0,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Output tokens of the state blocks of whole sequences.

        Each distinct prompt is encoded once and its key/value cache broadcast to the
        sequences that share it, which gives the same outputs as running every sequence whole
        (:meth:`whole_sequence_hidden`), at the cost of the state tokens alone.

        Parameters
        ----------
        prompt_inputs, prompt_mask
            Left-padded prompts: one per sequence, ``(N, L)``; or, with ``rows``, the
            distinct prompts ``(U, L)``.
        states
            Input states in time-major order, ``(N, T, P, D)``.
        first_time
            Time index of the first of these states.
        rows
            The prompt of each sequence among the distinct ``prompt_inputs``.

        Returns
        -------
        Output tokens ``(N, T, P, S, H)``; block ``(t, p)`` predicts ``x_{t + 1, p}``. With
        ``causal_context="current"`` each time point is read after the prompt alone.
        """
        if rows is None:
            prompt_inputs, prompt_mask, rows = self.distinct_prompts(prompt_inputs, prompt_mask)
        n, n_times, n_traj, _ = states.shape
        time_index = first_time + torch.arange(n_times, device=states.device).view(1, n_times, 1)
        tokens = self.state_tokenizer(states, time_index)
        hidden_size = tokens.shape[-1]
        if self.causal_context == "current":
            # every time point becomes its own sequence: the same network, no history
            rows = rows.repeat_interleave(n_times)
            tokens = tokens.reshape(n * n_times, -1, hidden_size)
        else:
            tokens = tokens.reshape(n, -1, hidden_size)
        cache, mask = self.prompt_prefix(prompt_inputs, prompt_mask, rows)
        hidden, _, _ = self._continue(cache, mask, tokens)
        return hidden.reshape(n, n_times, n_traj, self.n_spatial_tokens, hidden_size)

    def whole_sequence_hidden(
        self,
        prompt_inputs: torch.Tensor,
        prompt_mask: torch.Tensor,
        states: torch.Tensor,
        first_time: int = 0,
    ) -> torch.Tensor:
        """:meth:`sequence_hidden` computed the direct way: every sequence whole, prompt included.

        The reference for the prompt cache, and the cost of the reference implementation.
        """
        n, n_times, n_traj, _ = states.shape
        time_index = first_time + torch.arange(n_times, device=states.device).view(1, n_times, 1)
        tokens = self.state_tokenizer(states, time_index)
        hidden_size = tokens.shape[-1]
        if self.causal_context == "current":
            prompt_inputs = prompt_inputs.repeat_interleave(n_times, dim=0)
            prompt_mask = prompt_mask.repeat_interleave(n_times, dim=0)
            tokens = tokens.reshape(n * n_times, -1, hidden_size)
        tokens = tokens.reshape(prompt_inputs.shape[0], -1, hidden_size)
        embeds = torch.cat([self.embed_prompt(prompt_inputs).to(tokens.dtype), tokens], 1)
        mask = torch.cat([prompt_mask, prompt_mask.new_ones(tokens.shape[:2])], dim=1)
        hidden, _ = self.backbone(embeds, mask, (mask.cumsum(1) - 1).clamp_min(0))
        return hidden[:, prompt_mask.shape[1] :].reshape(
            n, n_times, n_traj, self.n_spatial_tokens, hidden_size
        )

    def next_state(
        self,
        hidden: torch.Tensor,
        current: torch.Tensor,
        temperature: float = 1.0,
        noise: torch.Tensor | None = None,
        step: int = 0,
        path_noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, Any]:
        """Decode output tokens ``(..., S, H)`` of state ``current`` (time ``step``) into the next.

        ``path_noise`` (standard normal, shaped like ``current``) is the Brownian-bridge noise of
        the step for ``step_target="endpoint"`` with ``path_sigma > 0``; ``temperature`` scales
        it as it scales the latent noise.
        """
        latent_temperature = temperature if self.variational_head else 0.0
        sample = self.head.encode(hidden, temperature=latent_temperature, noise=noise)
        decoded = self.head.decode(sample.z)
        if self.step_target == "velocity":
            return current + decoded / self.n_steps, sample
        if self.step_target == "state":
            return decoded, sample
        remaining = self.n_steps - step  # bridge from t = step / K to the estimated endpoint
        following = current + (decoded - current) / remaining
        if path_noise is not None and self.path_sigma > 0 and remaining > 1:
            # Var of a bridge over one step of 1/K, pinned (remaining - 1)/K later
            variance = (remaining - 1) / (remaining * self.n_steps)
            scale = temperature * self.path_sigma * variance**0.5
            following = following + scale * path_noise.to(current.dtype)
        return following, sample

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
        distinct, rows = torch.unique(condition.long().view(-1), return_inverse=True)
        hidden = self.sequence_hidden(
            self.prompt_inputs[distinct], self.prompt_mask[distinct], states[:, :-1], rows=rows
        )
        temperature = 1.0 if self.variational_head and self.training else 0.0
        sample = self.head.encode(hidden, temperature=temperature)
        return {"states": states, "sample": sample}

    def _get_generative_input(
        self, tensors: dict[str, torch.Tensor], inference_outputs: dict[str, Any]
    ) -> dict[str, Any]:
        return {"z": inference_outputs["sample"].z, "states": inference_outputs["states"]}

    @auto_move_data
    def generative(self, z: torch.Tensor, states: torch.Tensor) -> dict[str, torch.Tensor]:
        """Decode the latents of each state block into the next state.

        Returns
        -------
        ``decoded``: the decoded velocities, next states or endpoints (``step_target``),
        ``(N, K, P, D)``.
        """
        return {"decoded": self.head.decode(z)}

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

    @torch.inference_mode()
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
        """Write the flow autoregressively from ``x_0`` to ``x_K``.

        Parameters
        ----------
        prompt_inputs, prompt_mask
            Left-padded prompts, ``(N, L)``.
        source
            Starting states ``(N, P, D)``.
        temperature
            Scale ``tau`` of the latent noise.
        generator
            CPU random generator for the latent noise (device independent).
        use_cache
            Reuse keys and values of earlier tokens (linear in ``K``); otherwise every step
            recomputes the whole sequence, as the reference implementation does.
        latent_noise
            Standard normal latent noise ``(N, K, P, S, n_latent)`` to use instead of drawing
            it from ``generator`` (:meth:`CaLMFlowPerturb.predict` draws it per cell).
        path_noise
            Standard normal bridge noise ``(N, K, P, D)`` of ``step_target="endpoint"`` with
            ``path_sigma > 0``, likewise.

        Returns
        -------
        States ``(N, K + 1, P, D)``.
        """
        n, n_traj, _ = source.shape
        noise_shape = (n, n_traj, self.n_spatial_tokens, self.head.n_latent)
        if latent_noise is not None:
            noises = [latent_noise[:, step].to(source.device) for step in range(self.n_steps)]
        else:
            noises = [
                torch.randn(noise_shape, generator=generator).to(source.device)
                for _ in range(self.n_steps)
            ]
        path_noises: list[torch.Tensor | None] = [None] * self.n_steps
        if self.uses_path_noise and path_noise is not None:
            path_noises = [path_noise[:, step].to(source.device) for step in range(self.n_steps)]
        elif self.uses_path_noise:
            path_noises = [
                torch.randn(source.shape, generator=generator).to(source.device)
                for _ in range(self.n_steps)
            ]

        def advance(out: torch.Tensor, step: int) -> torch.Tensor:
            return self.next_state(
                out, states[-1], temperature, noises[step], step, path_noises[step]
            )[0]

        states = [source]
        if self.causal_context == "current":
            for step in range(self.n_steps):
                hidden = self.sequence_hidden(
                    prompt_inputs, prompt_mask, states[-1].unsqueeze(1), first_time=step
                )
                states.append(advance(hidden[:, -1], step))
            return torch.stack(states, dim=1)
        if not use_cache:
            for step in range(self.n_steps):
                hidden = self.whole_sequence_hidden(
                    prompt_inputs, prompt_mask, torch.stack(states, 1)
                )
                states.append(advance(hidden[:, -1], step))
            return torch.stack(states, dim=1)

        block = n_traj * self.n_spatial_tokens
        distinct, distinct_mask, rows = self.distinct_prompts(prompt_inputs, prompt_mask)
        cache, mask = self.prompt_prefix(distinct, distinct_mask, rows)
        for step in range(self.n_steps):
            time_index = torch.full((), step, dtype=torch.long, device=source.device)
            tokens = self.state_tokenizer(states[-1], time_index).reshape(n, block, -1)
            hidden, cache, mask = self._continue(cache, mask, tokens, use_cache=True)
            states.append(advance(hidden.reshape(n, n_traj, self.n_spatial_tokens, -1), step))
        return torch.stack(states, dim=1)


def _identity_linear(width: int) -> nn.Linear:
    """A square linear map initialised to the identity."""
    layer = nn.Linear(width, width)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(width))
        layer.bias.zero_()
    return layer
