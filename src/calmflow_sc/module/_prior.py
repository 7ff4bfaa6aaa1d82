"""The condition prior inside the module: its columns of the prompt table and code dropout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._module import CaLMFlowModule

#: In training, the share of sequences of a single perturbation that are read without the
#: perturbation's own code (as a component never measured is read): they teach the network to
#: predict from the prior, its support and kind alone.
CODE_DROPOUT = 0.5


def refresh_prior_inputs(module: CaLMFlowModule) -> None:
    """Copy the stored priors of the registered conditions into the module's prompt table."""
    if module.condition_prior is None:
        return
    priors = module.condition_prior.priors
    module.prompt_inputs[:, -priors.shape[1] :] = priors.to(module.prompt_inputs.device)


def prior_shift(module: CaLMFlowModule, prompt_inputs: torch.Tensor) -> torch.Tensor | None:
    """Prior effect of each prompt's condition, ``(N, D)``; ``None`` without a prior."""
    if module.condition_prior is None:
        return None
    start = prompt_inputs.shape[1] - module.condition_prior.n_features
    return prompt_inputs[:, start : start + module.n_components].float()


def read_features(module: CaLMFlowModule, features: torch.Tensor) -> torch.Tensor:
    """The perturbation features the network reads: all but the prior's effect vector.

    The prior effect moves the flow's source; the network reads the prior's support and kind
    only, so that it cannot learn a condition from its prior effect (a single's is unique) and
    must learn how far to trust a prior of each kind and support.
    """
    if module.condition_prior is None:
        return features
    start = features.shape[1] - module.condition_prior.n_features
    return torch.cat([features[:, :start], features[:, start + module.n_components :]], 1)


def without_codes(module: CaLMFlowModule, prompt_inputs: torch.Tensor) -> torch.Tensor:
    """The prompts with the components' codes zeroed (as unmeasured components are read)."""
    n_codes = module.n_perturbation_features - 1 - module.condition_prior.n_features
    start = prompt_inputs.shape[1] - module.n_perturbation_features
    dropped = prompt_inputs.clone()
    dropped[:, start : start + n_codes] = 0.0
    return dropped


def training_prompts(
    module: CaLMFlowModule, condition: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct prompts of a minibatch's sequences and the prompt of each sequence.

    In training with a condition prior, a share ``CODE_DROPOUT`` of the sequences of single
    perturbations read their prompt without the component's code.

    Returns
    -------
    Distinct prompt inputs and masks, and the row of each sequence among them.
    """
    condition = condition.long().view(-1)
    inputs, mask = module.prompt_inputs, module.prompt_mask
    if module.training and module.condition_prior is not None:
        n_rows = len(inputs)
        drawn = torch.rand(len(condition), device=condition.device) < CODE_DROPOUT
        dropped = module.single_rows[condition] & drawn
        condition = condition + dropped.long() * n_rows
        inputs = torch.cat([inputs, without_codes(module, inputs)])
        mask = torch.cat([mask, mask])
    distinct, rows = torch.unique(condition, return_inverse=True)
    return inputs[distinct], mask[distinct], rows
