"""Writing a flow: the autoregressive rollout from ``x_0`` to ``x_K``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from ._sequences import (
    continue_sequences,
    distinct_prompts,
    prompt_prefix,
    sequence_hidden,
    whole_sequence_hidden,
)

if TYPE_CHECKING:
    from ._module import CaLMFlowModule


@torch.inference_mode()
def rollout(
    module: CaLMFlowModule,
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
    noise_shape = (n, n_traj, module.n_spatial_tokens, module.head.n_latent)
    if latent_noise is not None:
        noises = [latent_noise[:, step].to(source.device) for step in range(module.n_steps)]
    else:
        noises = [
            torch.randn(noise_shape, generator=generator).to(source.device)
            for _ in range(module.n_steps)
        ]
    path_noises: list[torch.Tensor | None] = [None] * module.n_steps
    if module.uses_path_noise and path_noise is not None:
        path_noises = [path_noise[:, step].to(source.device) for step in range(module.n_steps)]
    elif module.uses_path_noise:
        path_noises = [
            torch.randn(source.shape, generator=generator).to(source.device)
            for _ in range(module.n_steps)
        ]

    offset = module.prior_shift(prompt_inputs)  # the prior's velocity, with a prior

    def advance(out: torch.Tensor, step: int) -> torch.Tensor:
        return next_state(
            module, out, states[-1], temperature, noises[step], step, path_noises[step], offset
        )[0]

    states = [source]
    if module.causal_context == "current":
        for step in range(module.n_steps):
            hidden = sequence_hidden(
                module, prompt_inputs, prompt_mask, states[-1].unsqueeze(1), first_time=step
            )
            states.append(advance(hidden[:, -1], step))
        return torch.stack(states, dim=1)
    if not use_cache:
        for step in range(module.n_steps):
            hidden = whole_sequence_hidden(
                module, prompt_inputs, prompt_mask, torch.stack(states, 1)
            )
            states.append(advance(hidden[:, -1], step))
        return torch.stack(states, dim=1)

    block = n_traj * module.n_spatial_tokens
    distinct, distinct_mask, rows = distinct_prompts(module, prompt_inputs, prompt_mask)
    cache, mask = prompt_prefix(module, distinct, distinct_mask, rows)
    for step in range(module.n_steps):
        time_index = torch.full((), step, dtype=torch.long, device=source.device)
        tokens = module.state_tokenizer(states[-1], time_index).reshape(n, block, -1)
        hidden, cache, mask = continue_sequences(module, cache, mask, tokens, use_cache=True)
        states.append(advance(hidden.reshape(n, n_traj, module.n_spatial_tokens, -1), step))
    return torch.stack(states, dim=1)


def next_state(
    module: CaLMFlowModule,
    hidden: torch.Tensor,
    current: torch.Tensor,
    temperature: float = 1.0,
    noise: torch.Tensor | None = None,
    step: int = 0,
    path_noise: torch.Tensor | None = None,
    offset: torch.Tensor | None = None,
) -> tuple[torch.Tensor, Any]:
    """Decode output tokens ``(..., S, H)`` of state ``current`` (time ``step``) into the next.

    ``path_noise`` (standard normal, shaped like ``current``) is the Brownian-bridge noise of
    the step for ``step_target="endpoint"`` with ``path_sigma > 0``; ``temperature`` scales
    it as it scales the latent noise. ``offset`` ``(N, D)`` is added to each sequence's
    decoded velocity (a condition prior's effect).
    """
    latent_temperature = temperature if module.variational_head else 0.0
    sample = module.head.encode(hidden, temperature=latent_temperature, noise=noise)
    decoded = module.head.decode(sample.z)
    if offset is not None:
        shape = (offset.shape[0], *[1] * (decoded.dim() - 2), offset.shape[-1])
        decoded = decoded + offset.reshape(shape).to(decoded.dtype)
    if module.step_target == "velocity":
        return current + decoded / module.n_steps, sample
    if module.step_target == "state":
        return decoded, sample
    remaining = module.n_steps - step  # bridge from t = step / K to the estimated endpoint
    following = current + (decoded - current) / remaining
    if path_noise is not None and module.path_sigma > 0 and remaining > 1:
        # Var of a bridge over one step of 1/K, pinned (remaining - 1)/K later
        variance = (remaining - 1) / (remaining * module.n_steps)
        scale = temperature * module.path_sigma * variance**0.5
        following = following + scale * path_noise.to(current.dtype)
    return following, sample
