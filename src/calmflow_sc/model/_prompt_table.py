"""Prompts of every training condition, as token ids indexed like the module's lookup."""

from __future__ import annotations

import itertools

import torch

from ..data import PromptBuilder
from ..nn import CausalLMBackbone

MAX_PROMPT_TABLE_ROWS = 500_000


def build_prompt_table(
    builder: PromptBuilder,
    perturbations: list[str],
    cell_types: list[str] | None,
    covariates: list[list[str]],
    backbone: CausalLMBackbone,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokenise the prompt of every registered (perturbation, cell type, covariates) triple.

    Rows are ordered perturbation-major, then by the mixed-radix context index of cell type
    and covariates, so that row ``perturbation * n_contexts + context`` is a cell's prompt.

    Parameters
    ----------
    builder
        Renders prompts.
    perturbations
        Registered perturbation categories.
    cell_types
        Registered cell-type categories, or ``None`` without cell types.
    covariates
        Registered categories of each covariate.
    backbone
        Provides the tokenizer.

    Returns
    -------
    Token ids and attention mask, left-padded, ``(n_rows, length)``.
    """
    context_levels = [cell_types if cell_types is not None else [None], *covariates]
    n_rows = len(perturbations)
    for levels in context_levels:
        n_rows *= len(levels)
    if n_rows > MAX_PROMPT_TABLE_ROWS:
        raise ValueError(
            f"The registered keys span {n_rows:,} (perturbation, cell type, covariates) "
            "combinations. Register fewer covariates or merge rare categories."
        )
    prompts = [
        builder.render(perturbation, context[0], context[1:])
        for perturbation in perturbations
        for context in itertools.product(*context_levels)
    ]
    return backbone.tokenize(prompts)
