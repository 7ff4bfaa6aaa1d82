"""A causal language model used as the Volterra integral operator."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, GPT2Config

from .._constants import FINETUNE_MODES, Finetune, check_choice
from ._tokenizer import load_gpt2_tokenizer

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase


# files of which a saved tokenizer has at least one
_TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt")


def hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (``HF_HUB_OFFLINE``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


class LanguageModelNotFoundError(OSError):
    """A language model named by the user could not be loaded."""


def _not_found(name: str, err: Exception) -> LanguageModelNotFoundError:
    where = (
        "the Hugging Face hub is offline here (HF_HUB_OFFLINE=1)"
        if hub_offline()
        else "it could not be downloaded"
    )
    return LanguageModelNotFoundError(
        f"Language model {name!r} is not a local directory and {where} ({type(err).__name__}). "
        "On a machine with internet, save it with\n"
        f"    from transformers import AutoModel, AutoTokenizer\n"
        f"    AutoModel.from_pretrained({name!r}).save_pretrained('my_lm')\n"
        f"    AutoTokenizer.from_pretrained({name!r}).save_pretrained('my_lm')\n"
        "copy the directory 'my_lm' to this machine and pass language_model='path/to/my_lm'."
    )


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
        activation_function="gelu",
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
        transformer: nn.Module | None = None,
    ):
        super().__init__()
        self.transformer = transformer if transformer is not None else AutoModel.from_config(config)
        self.finetune = "full"
        self.tokenizer = tokenizer if tokenizer is not None else load_gpt2_tokenizer()
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        # transformers 5 renamed the cache argument from `past_key_values` to `cache`
        parameters = inspect.signature(self.transformer.forward).parameters
        self._cache_argument = "cache" if "cache" in parameters else "past_key_values"

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path, load_weights: bool = True
    ) -> CausalLMBackbone:
        """Load a causal language model and its tokenizer with ``transformers``.

        Parameters
        ----------
        name_or_path
            A model name on the Hugging Face hub (``"gpt2"``, ``"EleutherAI/pythia-160m"``) or
            a local directory written by ``save_pretrained`` holding the configuration, the
            weights and the tokenizer files. Only local files are read when the directory
            exists or ``HF_HUB_OFFLINE`` is set.
        load_weights
            Load the pretrained weights; ``False`` builds the architecture from the
            configuration alone (weights then come from a saved model's state).

        Returns
        -------
        The backbone, with the transformer body of the language model.

        Raises
        ------
        LanguageModelNotFoundError
            If the model cannot be found, with instructions to download it elsewhere.
        """
        name = str(name_or_path)
        local = Path(name).expanduser().is_dir()
        if local:
            name = str(Path(name).expanduser())
        if local and not any((Path(name) / file).is_file() for file in _TOKENIZER_FILES):
            raise LanguageModelNotFoundError(
                f"{name!r} holds no tokenizer files (one of {list(_TOKENIZER_FILES)}). Save the "
                "tokenizer next to the model with tokenizer.save_pretrained(directory)."
            )
        options = {"local_files_only": local or hub_offline()}
        try:
            config = AutoConfig.from_pretrained(name, **options)
            tokenizer = AutoTokenizer.from_pretrained(name, **options)
            transformer = (
                AutoModel.from_pretrained(name, **options)
                if load_weights
                else AutoModel.from_config(config)
            )
        except (OSError, ValueError) as err:
            if local:
                raise LanguageModelNotFoundError(
                    f"The language-model directory {name!r} exists but could not be read "
                    f"({type(err).__name__}: {' '.join(str(err).split())[:300]}). Check its "
                    "config.json, weights and tokenizer files, or write them again with "
                    "save_pretrained."
                ) from err
            raise _not_found(str(name_or_path), err) from err
        if len(tokenizer) < 2:  # transformers builds an empty tokenizer when files are missing
            raise LanguageModelNotFoundError(
                f"The tokenizer of {str(name_or_path)!r} has no vocabulary; save it with "
                "tokenizer.save_pretrained(directory) next to the model."
            )
        return cls(config, tokenizer=tokenizer, transformer=transformer)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the configuration and tokenizer files (the weights live in the model's state)."""
        self.config.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    @property
    def config(self) -> PretrainedConfig:
        """The language model's configuration."""
        return self.transformer.config

    def configure_finetuning(
        self,
        mode: Finetune = "full",
        lora_rank: int = 8,
        lora_alpha: float = 16.0,
        lora_dropout: float = 0.0,
    ) -> None:
        """Choose which of the language model's parameters train.

        Parameters
        ----------
        mode
            ``"full"``: every parameter (the paper). ``"frozen"``: none. ``"lora"``: low-rank
            adapters added to the attention projections by ``peft``, the original weights
            frozen.
        lora_rank, lora_alpha, lora_dropout
            Rank, scaling numerator and dropout of the LoRA adapters.
        """
        self.finetune = check_choice("finetune", mode, FINETUNE_MODES)
        if mode == "full":
            return
        for parameter in self.transformer.parameters():
            parameter.requires_grad_(False)
        if mode == "frozen":
            return
        try:
            from peft import LoraConfig, inject_adapter_in_model
        except ImportError as err:
            raise ImportError(
                "finetune='lora' needs the `peft` package: pip install 'calmflow-sc[lora]' "
                "(or pip install peft)."
            ) from err
        if int(lora_rank) < 1:
            raise ValueError(f"lora_rank must be a positive integer, got {lora_rank}.")
        targets = _LORA_TARGETS.get(self.config.model_type)
        config = LoraConfig(
            r=int(lora_rank),
            lora_alpha=lora_alpha,
            lora_dropout=lora_dropout,
            target_modules=targets,
        )
        if targets is None:  # let peft choose for families it knows
            from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING

            known = TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING.get(self.config.model_type)
            if known is None:
                raise ValueError(
                    f"No default LoRA target modules for model type {self.config.model_type!r}."
                )
            config.target_modules = set(known)
        inject_adapter_in_model(config, self.transformer)
        for name, parameter in self.transformer.named_parameters():
            parameter.requires_grad_("lora_" in name)

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

    def prefix_cache(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, rows: torch.Tensor
    ) -> Any:
        """Key/value cache of distinct prefixes, broadcast to the sequences that share them.

        A causal model's outputs at a prefix do not depend on what follows it, so a prefix
        shared by many sequences (a prompt) needs to be encoded only once. Gradients flow back
        through the broadcast into the prefix.

        Parameters
        ----------
        inputs_embeds
            Embeddings of the distinct prefixes, left-padded, ``(n_distinct, length, H)``.
        attention_mask
            Their attention mask, ``(n_distinct, length)``.
        rows
            The prefix of each sequence, ``(n_sequences,)``.

        Returns
        -------
        The cache of every sequence, to pass as ``past_key_values``.
        """
        positions = (attention_mask.cumsum(1) - 1).clamp_min(0)
        _, cache = self(inputs_embeds, attention_mask, positions, use_cache=True)
        return select_cache_rows(cache, rows)


def select_cache_rows(cache: Any, rows: torch.Tensor) -> Any:
    """The key/value cache whose row ``i`` is row ``rows[i]`` of ``cache``.

    Rows are gathered with ``index_select``, whose gradient (an index-add) is several times
    faster on the CPU than that of advanced indexing. Handles ``transformers``' cache objects
    (layers with ``keys`` and ``values``) and the legacy tuples of tuples.
    """
    if isinstance(cache, tuple):
        return tuple(tuple(tensor.index_select(0, rows) for tensor in layer) for layer in cache)
    layers = getattr(cache, "layers", None)
    if layers is not None and all(hasattr(layer, "keys") for layer in layers):
        for layer in layers:
            layer.keys = layer.keys.index_select(0, rows)
            layer.values = layer.values.index_select(0, rows)
        return cache
    cache.batch_select_indices(rows)
    return cache


# attention projections adapted by LoRA, per model family
_LORA_TARGETS: dict[str, list[str]] = {
    "gpt2": ["c_attn"],
    "gpt_neox": ["query_key_value"],
}
