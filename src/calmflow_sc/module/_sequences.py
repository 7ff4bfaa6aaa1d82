"""Reading sequences: prompts embedded and cached once, states read after them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ._prior import read_features

if TYPE_CHECKING:
    from ._module import CaLMFlowModule


def embed_prompt(module: CaLMFlowModule, prompt_inputs: torch.Tensor) -> torch.Tensor:
    """Prompt tokens ``(N, L, H)`` from token ids or feature vectors."""
    if module.prompt_encoder == "lm":
        return _embed_text(module, prompt_inputs)
    if module.prompt_encoder == "components":
        n_text = prompt_inputs.shape[1] - module.n_perturbation_features
        text = _embed_text(module, prompt_inputs[:, :n_text].long())
        features = read_features(module, prompt_inputs[:, n_text:])
        features = features.to(module.component_projection.weight.dtype)
        codes = module.component_projection(features).view(
            len(features), module.n_prompt_tokens, -1
        )
        return torch.cat([text, codes.to(text.dtype)], dim=1)
    tokens = module.prompt_projection(prompt_inputs.to(module.prompt_projection.weight.dtype))
    return tokens.view(len(prompt_inputs), module.n_prompt_tokens, -1)


def _embed_text(module: CaLMFlowModule, token_ids: torch.Tensor) -> torch.Tensor:
    if module.prompt_tokens is not None:
        return module.prompt_tokens(token_ids, module.backbone.embed_tokens)
    return module.prompt_projection(module.backbone.embed_tokens(token_ids))


def distinct_prompts(
    module: CaLMFlowModule, prompt_inputs: torch.Tensor, prompt_mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct prompts among ``N`` and which one each sequence has.

    Returns
    -------
    Distinct inputs and masks, and the row of each sequence among them, ``(N,)``.
    """
    key = prompt_inputs.float()
    if module.prompt_encoder in ("lm", "components"):
        key = torch.cat([key, prompt_mask.to(key.dtype)], 1)
    _, rows = torch.unique(key, dim=0, return_inverse=True)
    first = torch.full((int(rows.max()) + 1,), len(rows), dtype=torch.long, device=rows.device)
    first = first.scatter_reduce(0, rows, torch.arange(len(rows), device=rows.device), "amin")
    return prompt_inputs[first], prompt_mask[first], rows


def prompt_prefix(
    module: CaLMFlowModule,
    prompt_inputs: torch.Tensor,
    prompt_mask: torch.Tensor,
    rows: torch.Tensor,
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
    embeds = embed_prompt(module, prompt_inputs)
    cache = module.backbone.prefix_cache(embeds, prompt_mask, rows)
    return cache, prompt_mask[rows]


def continue_sequences(
    module: CaLMFlowModule,
    cache: Any,
    mask: torch.Tensor,
    tokens: torch.Tensor,
    use_cache: bool = False,
) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Run tokens ``(N, n, H)`` after the cached part; return outputs, cache and mask."""
    start = mask.sum(1, keepdim=True)
    position_ids = start + torch.arange(tokens.shape[1], device=tokens.device)
    mask = torch.cat([mask, mask.new_ones(tokens.shape[:2])], dim=1)
    hidden, cache = module.backbone(
        tokens, mask, position_ids, past_key_values=cache, use_cache=use_cache
    )
    return hidden, cache, mask


def sequence_hidden(
    module: CaLMFlowModule,
    prompt_inputs: torch.Tensor,
    prompt_mask: torch.Tensor,
    states: torch.Tensor,
    first_time: int = 0,
    rows: torch.Tensor | None = None,
) -> torch.Tensor:
    """Output tokens of the state blocks of whole sequences.

    Each distinct prompt is encoded once and its key/value cache broadcast to the
    sequences that share it, which gives the same outputs as running every sequence whole
    (:func:`whole_sequence_hidden`), at the cost of the state tokens alone.

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
        prompt_inputs, prompt_mask, rows = distinct_prompts(module, prompt_inputs, prompt_mask)
    n, n_times, n_traj, _ = states.shape
    time_index = first_time + torch.arange(n_times, device=states.device).view(1, n_times, 1)
    tokens = module.state_tokenizer(states, time_index)
    hidden_size = tokens.shape[-1]
    if module.causal_context == "current":
        # every time point becomes its own sequence: the same network, no history
        rows = rows.repeat_interleave(n_times)
        tokens = tokens.reshape(n * n_times, -1, hidden_size)
    else:
        tokens = tokens.reshape(n, -1, hidden_size)
    cache, mask = prompt_prefix(module, prompt_inputs, prompt_mask, rows)
    hidden, _, _ = continue_sequences(module, cache, mask, tokens)
    return hidden.reshape(n, n_times, n_traj, module.n_spatial_tokens, hidden_size)


def whole_sequence_hidden(
    module: CaLMFlowModule,
    prompt_inputs: torch.Tensor,
    prompt_mask: torch.Tensor,
    states: torch.Tensor,
    first_time: int = 0,
) -> torch.Tensor:
    """:func:`sequence_hidden` computed the direct way: every sequence whole, prompt included.

    The reference for the prompt cache, and the cost of the reference implementation.
    """
    n, n_times, n_traj, _ = states.shape
    time_index = first_time + torch.arange(n_times, device=states.device).view(1, n_times, 1)
    tokens = module.state_tokenizer(states, time_index)
    hidden_size = tokens.shape[-1]
    if module.causal_context == "current":
        prompt_inputs = prompt_inputs.repeat_interleave(n_times, dim=0)
        prompt_mask = prompt_mask.repeat_interleave(n_times, dim=0)
        tokens = tokens.reshape(n * n_times, -1, hidden_size)
    tokens = tokens.reshape(prompt_inputs.shape[0], -1, hidden_size)
    embeds = torch.cat([embed_prompt(module, prompt_inputs).to(tokens.dtype), tokens], 1)
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(tokens.shape[:2])], dim=1)
    hidden, _ = module.backbone(embeds, mask, (mask.cumsum(1) - 1).clamp_min(0))
    return hidden[:, prompt_mask.shape[1] :].reshape(
        n, n_times, n_traj, module.n_spatial_tokens, hidden_size
    )
