"""Torch building blocks: the language-model backbone, state tokens and the variational head."""

from __future__ import annotations

from ._backbone import (
    FINETUNE_MODES,
    CausalLMBackbone,
    LanguageModelNotFoundError,
    default_backbone_config,
)
from ._component_knowledge import (
    ComponentKnowledge,
    UnknownComponentError,
    as_embedding_frame,
    description_text,
)
from ._condition_encoder import CONTEXT_TREATMENT, ConditionPromptEncoder
from ._condition_prior import PRIOR_KINDS, ConditionPrior, PriorEstimate
from ._sentence_encoder import MiniLMEncoder, load_minilm
from ._state_tokens import StateTokenizer
from ._token_table import PromptTokenTable
from ._tokenizer import load_gpt2_tokenizer
from ._variational_head import VariationalHead, VariationalSample

__all__ = [
    "CONTEXT_TREATMENT",
    "FINETUNE_MODES",
    "PRIOR_KINDS",
    "CausalLMBackbone",
    "ComponentKnowledge",
    "ConditionPrior",
    "ConditionPromptEncoder",
    "LanguageModelNotFoundError",
    "MiniLMEncoder",
    "PriorEstimate",
    "PromptTokenTable",
    "StateTokenizer",
    "UnknownComponentError",
    "VariationalHead",
    "VariationalSample",
    "as_embedding_frame",
    "default_backbone_config",
    "description_text",
    "load_gpt2_tokenizer",
    "load_minilm",
]
