from __future__ import annotations

import numpy as np
import pytest
import torch

from calmflow_sc.module import SequenceLayout, sequence_hidden
from helpers import tiny_module


@pytest.mark.parametrize(("prompt_length", "s", "p"), [(0, 1, 1), (7, 2, 3), (5, 3, 2)])
def test_block_positions(prompt_length, s, p):
    layout = SequenceLayout(prompt_length, n_time_points=4, n_trajectories=p, n_spatial_tokens=s)
    seen = np.concatenate([layout.block_positions(t, q) for t in range(4) for q in range(p)])
    # blocks tile the state part of the sequence, time-major, without gaps or overlap
    np.testing.assert_array_equal(seen, np.arange(prompt_length, layout.length))
    assert layout.block_positions(1, 0)[0] == prompt_length + p * s
    assert layout.block_positions(0, p - 1)[-1] == prompt_length + p * s - 1
    with pytest.raises(IndexError):
        layout.block_positions(4, 0)


@pytest.mark.parametrize(("s", "p"), [(1, 1), (2, 3), (3, 2)])
def test_block_outputs_see_only_earlier_blocks(s, p):
    """Perturbing state (t, q) changes the outputs of blocks at or after it, nothing before."""
    module = tiny_module(s, p)
    ids, mask = module.backbone.tokenize(["Generate a B cell under IFNB: "])
    states = torch.randn(1, 3, p, 4)
    base = sequence_hidden(module, ids, mask, states)
    t, q = 1, p - 1
    moved = states.clone()
    moved[0, t, q] += 1.0
    changed = (sequence_hidden(module, ids, mask, moved) - base).abs().amax(dim=(-1, -2))[0]
    order = [(i, j) for i in range(3) for j in range(p)]
    for i, j in order:
        if order.index((i, j)) < order.index((t, q)):
            assert changed[i, j] < 1e-5, (i, j)
        else:
            assert changed[i, j] > 1e-4, (i, j)


@pytest.mark.parametrize(("s", "p"), [(1, 1), (2, 2), (3, 1)])
def test_prompt_length_does_not_shift_state_outputs(s, p):
    """Prompts of many lengths, padded together: each state's output is what it is alone."""
    module = tiny_module(s, p)
    prompts = [
        "Generate a cell: ",
        "Generate a CD14+ monocyte cell (donor: 101) under IFNB and TNF: ",
        "Generate a T cell under IL4: ",
    ]
    ids, mask = module.backbone.tokenize(prompts)
    states = torch.randn(len(prompts), 3, p, 4)
    together = sequence_hidden(module, ids, mask, states)
    for row, prompt in enumerate(prompts):
        alone_ids, alone_mask = module.backbone.tokenize([prompt])
        alone = sequence_hidden(module, alone_ids, alone_mask, states[row : row + 1])
        torch.testing.assert_close(together[row : row + 1], alone, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("s", "p"), [(1, 1), (2, 3), (4, 2)])
def test_cached_rollout_equals_recomputed_rollout(s, p):
    module = tiny_module(s, p, n_steps=5)
    prompts = ["Generate a cell: ", "Generate a B cell (donor: d2) under IFNB and TNF: "]
    ids, mask = module.backbone.tokenize(prompts)
    source = torch.randn(2, p, 4)
    cached = module.rollout(ids, mask, source, generator=torch.Generator().manual_seed(3))
    recomputed = module.rollout(
        ids, mask, source, generator=torch.Generator().manual_seed(3), use_cache=False
    )
    assert cached.shape == (2, 6, p, 4)
    torch.testing.assert_close(cached, recomputed, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(cached[:, 0], source)
    # a different seed gives a different rollout: the comparison above is not vacuous
    other = module.rollout(ids, mask, source, generator=torch.Generator().manual_seed(4))
    assert (other - cached).abs().max() > 1e-3
