from __future__ import annotations

import torch
from torch import nn

from calmflow_sc.nn import PromptTokenTable


def test_rows_copy_the_table_and_train_alone():
    torch.manual_seed(0)
    table = nn.Embedding(50, 4)
    original = table.weight.detach().clone()
    rows = PromptTokenTable(table, torch.tensor([7, 3, 7, 12]))
    assert len(rows) == 3
    assert not table.weight.requires_grad
    ids = torch.tensor([[3, 7, 40], [12, 0, 3]])  # 40 and 0 are outside the vocabulary
    torch.testing.assert_close(rows(ids, table), original[ids])
    rows(ids, table).sum().backward()
    assert table.weight.grad is None
    # the used rows get the gradient the full table would have given them
    torch.testing.assert_close(rows.rows.grad, torch.tensor([[2.0] * 4, [1.0] * 4, [1.0] * 4]))


def test_a_prompt_made_of_known_tokens_never_reads_the_table():
    table = nn.Embedding(10, 2)
    rows = PromptTokenTable(table, torch.tensor([1, 2]))

    def fail(ids):
        raise AssertionError("the frozen table was read")

    assert rows(torch.tensor([[1, 2, 2]]), fail).shape == (1, 3, 2)
