"""The condition prior inside the module: its columns of the prompt table, read and shifted.

The prompt table has three variants of every registered condition when the model has a
prior: row ``r`` reads the condition as predicted (a measured condition's own effect as prior,
its components' codes); row ``r + n_rows`` as if it had never been measured (its
as-if-unmeasured prior, and for a single perturbation no code, as a component never measured is
read); row ``r + 2 n_rows`` as if a combination's first component had never been measured (its
prior from that component's knowledge neighbours plus the measured partners, without that
component's code), the situation of a pair with a gene never measured. The sequence builder
chooses the variant of each training sequence (:data:`VARIANT_WEIGHTS`), so that the network
learns to complete a prior of each kind and support as it will meet it for conditions never
measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ._module import CaLMFlowModule

#: In training, the share of sequences that read their condition as measured, as if unmeasured,
#: and as if a combination's first component were unmeasured.
VARIANT_WEIGHTS = (0.5, 0.25, 0.25)


def refresh_prior_inputs(module: CaLMFlowModule) -> None:
    """Copy the registered conditions' prior features into the module's prompt table."""
    if module.condition_prior is None:
        return
    features = module.condition_prior.table_features()
    module.prompt_inputs[:, -features.shape[1] :] = features.to(module.prompt_inputs.device)


def prior_shift(module: CaLMFlowModule, prompt_inputs: torch.Tensor) -> torch.Tensor | None:
    """Prior effect of each prompt's condition as trusted, ``(N, D)``; ``None`` without a prior.

    The effect is weighted by the trust the prior has learned for its kind and support
    (:meth:`~calmflow_sc.nn.ConditionPrior.trusted`).
    """
    if module.condition_prior is None:
        return None
    start = prompt_inputs.shape[1] - module.condition_prior.n_features
    return module.condition_prior.trusted(prompt_inputs[:, start:].float())


def read_features(module: CaLMFlowModule, features: torch.Tensor) -> torch.Tensor:
    """The perturbation features the network reads: all but the prior's effect vector.

    The prior effect is added to the flow's velocity; the network reads the prior's support
    and kind only, so that it cannot learn a condition from its prior effect (a single's is
    unique) and must learn how far to trust a prior of each kind and support.
    """
    if module.condition_prior is None:
        return features
    start = features.shape[1] - module.condition_prior.n_features
    return torch.cat([features[:, :start], features[:, start + module.n_components :]], 1)


def as_if_unmeasured(module: CaLMFlowModule, variant: int) -> torch.Tensor:
    """The prompt table read as if unmeasured, ``(n_rows, width)``.

    ``variant`` 1: every condition's as-if-unmeasured prior, single perturbations without
    their code; 2: combinations as if their first component were unmeasured.
    """
    prior = module.condition_prior
    inputs = module.prompt_inputs.clone()
    priors = prior.priors if variant == 1 else prior.partial_priors
    inputs[:, -prior.n_features :] = priors.to(inputs.device)
    n_codes = module.n_perturbation_features - 1 - prior.n_features
    start = inputs.shape[1] - module.n_perturbation_features
    codes = inputs[:, start : start + n_codes]
    codes[module.as_if_codes[variant - 1].to(inputs.device)] = 0.0
    return inputs


def training_prompts(
    module: CaLMFlowModule, condition: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The distinct prompts of a minibatch's sequences and the prompt of each sequence.

    ``condition`` indexes the prompt table, or with a prior its three variants.

    Returns
    -------
    Distinct prompt inputs and masks, and the row of each sequence among them.
    """
    condition = condition.long().view(-1)
    inputs, mask = module.prompt_inputs, module.prompt_mask
    if module.condition_prior is not None:
        inputs = torch.cat([inputs, as_if_unmeasured(module, 1), as_if_unmeasured(module, 2)])
        mask = torch.cat([mask, mask, mask])
    distinct, rows = torch.unique(condition, return_inverse=True)
    return inputs[distinct], mask[distinct], rows
