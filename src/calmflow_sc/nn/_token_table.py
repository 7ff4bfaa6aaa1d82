"""The rows of a language model's token table that the prompts use, trained on their own."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


class PromptTokenTable(nn.Module):
    """Trainable copies of the token-table rows that the training prompts use.

    A GPT-2 table has 50,257 rows and a model's prompts use a few dozen of them. Training the
    whole table gives the used rows the same updates, but every step the optimizer still reads
    and writes every row (for the default backbone, 91% of the parameters). Here the used rows
    are trainable copies; the language model's own table stays frozen and serves every other
    token, for instance of a condition first described at prediction time.

    Parameters
    ----------
    table
        The language model's input embedding table, frozen by this call.
    vocabulary
        Token ids of the trainable rows (the tokens of the training prompts).
    """

    def __init__(self, table: nn.Embedding, vocabulary: torch.Tensor):
        super().__init__()
        vocabulary = torch.unique(vocabulary.long())
        table.weight.requires_grad_(False)
        self.rows = nn.Parameter(table.weight.detach()[vocabulary].clone())
        index = torch.full((table.num_embeddings,), -1, dtype=torch.long)
        index[vocabulary] = torch.arange(len(vocabulary))
        # derived from the prompts at every construction: not saved
        self.register_buffer("row_of_token", index, persistent=False)

    def __len__(self) -> int:
        return len(self.rows)

    def forward(
        self, token_ids: torch.Tensor, table: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """Embed token ids: the trainable rows for the vocabulary, ``table`` for the rest."""
        rows = self.row_of_token[token_ids]
        known = (rows >= 0).unsqueeze(-1)
        trained = nn.functional.embedding(rows.clamp_min(0), self.rows)
        if bool(known.all()):
            return trained
        return torch.where(known, trained, table(token_ids).to(trained.dtype))
