"""A causal language model used as the Volterra integral operator."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import AutoModel, GPT2Config

from ._tokenizer import load_gpt2_tokenizer

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase


def default_backbone_config(
    n_layers: int = 4, hidden_size: int = 128, n_heads: int = 4, dropout: float = 0.1
) -> GPT2Config:
    """Configuration of the default backbone: a small, randomly initialised GPT-2.

    Parameters
    ----------
    n_layers
        Number of transformer blocks.
    hidden_size
        Width of the residual stream (the token width ``H``).
    n_heads
        Number of attention heads; must divide ``hidden_size``.
    dropout
        Dropout on embeddings, attention and residual connections.

    Returns
    -------
    A GPT-2 configuration with the genuine GPT-2 vocabulary size.
    """
    if hidden_size % n_heads:
        raise ValueError(
            f"hidden_size={hidden_size} is not divisible by n_heads={n_heads}; "
            "choose a number of heads that divides the width."
        )
    return GPT2Config(
        vocab_size=50257,
        n_positions=1024,
        n_embd=hidden_size,
        n_layer=n_layers,
        n_head=n_heads,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
    )


class CausalLMBackbone(nn.Module):
    """A Hugging Face causal language model fed with ``inputs_embeds``.

    Only the transformer body is kept: prompts are embedded with the model's own input
    embedding table, states enter as continuous embeddings, and the vocabulary head is unused.

    Parameters
    ----------
    config
        Configuration of any Hugging Face causal LM (GPT-2, GPT-NeoX, ...). The model is
        randomly initialised from it.
    tokenizer
        The tokenizer matching the configuration's vocabulary. Defaults to GPT-2's.
    """

    def __init__(
        self,
        config: PretrainedConfig,
        tokenizer: PreTrainedTokenizerBase | None = None,
    ):
        super().__init__()
        self.transformer = AutoModel.from_config(config)
        self.tokenizer = tokenizer if tokenizer is not None else load_gpt2_tokenizer()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        # transformers 5 renamed the cache argument from `past_key_values` to `cache`
        parameters = inspect.signature(self.transformer.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    @property
    def hidden_size(self) -> int:
        """Width ``H`` of the language model's tokens."""
        return int(self.transformer.config.hidden_size)

    @property
    def max_positions(self) -> int | None:
        """Longest sequence the position encoding supports, where it has a limit."""
        config = self.transformer.config
        return getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokenise prompts, padded on the left to a common length.

        Parameters
        ----------
        prompts
            Prompt texts.

        Returns
        -------
        Token ids and attention mask, both of shape ``(len(prompts), length)``.
        """
        encoded = self.tokenizer(prompts, padding=True, return_tensors="pt")
        return encoded["input_ids"].long(), encoded["attention_mask"].long()

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embed token ids with the language model's input embedding table."""
        return self.transformer.get_input_embeddings()(input_ids)

    def forward(
        self,
        inputs_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        past_key_values: Any | None = None,
        use_cache: bool = False,
    ) -> tuple[torch.Tensor, Any]:
        """Run the transformer on continuous token embeddings.

        Parameters
        ----------
        inputs_embeds
            Embeddings of the new tokens, ``(batch, new_length, H)``.
        attention_mask
            Mask over the cached and the new tokens, ``(batch, past_length + new_length)``.
        position_ids
            Positions of the new tokens, ``(batch, new_length)``.
        past_key_values
            The key/value cache returned by a previous call, if any.
        use_cache
            Whether to return a key/value cache for incremental decoding.

        Returns
        -------
        The last hidden states of the new tokens and the cache (``None`` without ``use_cache``).
        """
        max_positions = self.max_positions
        if max_positions is not None and int(position_ids.max()) >= max_positions:
            raise ValueError(
                f"The sequence needs {int(position_ids.max()) + 1} positions but the language "
                f"model supports {max_positions}. Use shorter prompts or fewer time points, "
                "spatial tokens or trajectories per sequence."
            )
        output = self.transformer(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,
            **{self._cache_argument: past_key_values},
        )
        if not use_cache:
            return output.last_hidden_state, None
        return output.last_hidden_state, getattr(output, self._cache_argument)
