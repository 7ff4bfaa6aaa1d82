from __future__ import annotations

import numpy as np
import torch

from calmflow_sc.module import CaLMFlowModule
from calmflow_sc.nn import CausalLMBackbone, default_backbone_config


def make_module(context_sizes: list[int]) -> CaLMFlowModule:
    backbone = CausalLMBackbone(default_backbone_config(n_layers=1, hidden_size=16, n_heads=2))
    ids, mask = backbone.tokenize(["p"] * int(np.prod(context_sizes)))
    return CaLMFlowModule(
        n_genes=3,
        n_components=2,
        backbone=backbone,
        prompt_inputs=ids,
        prompt_mask=mask,
        context_sizes=context_sizes,
        n_latent=2,
    )


def test_controls_come_from_own_context_then_cell_type_then_all():
    module = make_module([3, 2])  # cell type x donor: contexts 0..5
    # controls: cell type 0 donor 0 (values 0..), cell type 1 donor 1 (values 100..);
    # nothing for cell type 0 donor 1, nor for cell type 2
    contexts = np.array([3, 0, 3, 0, 0])
    values = torch.tensor([[100.0], [0.0], [101.0], [1.0], [2.0]]).repeat(1, 2)
    module.set_control_pool(values, contexts)
    generator = torch.Generator().manual_seed(0)

    def draws(context: int) -> set[float]:
        picked = module.sample_controls(torch.full((400,), context), generator=generator)
        return set(picked[:, 0].tolist())

    assert draws(0) == {0.0, 1.0, 2.0}
    assert draws(3) == {100.0, 101.0}
    assert draws(1) == {0.0, 1.0, 2.0}  # same cell type, other donor
    assert draws(2) == {100.0, 101.0}  # cell type 1 donor 0 -> cell type 1's controls
    assert draws(5) == {0.0, 1.0, 2.0, 100.0, 101.0}  # cell type 2: every control


def test_pool_is_saved_and_resized_on_load():
    module = make_module([2])
    module.set_control_pool(torch.randn(7, 2), np.array([0, 1, 1, 0, 1, 1, 1]))
    state = module.state_dict()
    fresh = make_module([2])
    assert fresh.control_states.shape == (0, 2)
    fresh.load_state_dict(state)
    torch.testing.assert_close(fresh.control_states, module.control_states)
    np.testing.assert_array_equal(fresh.control_count, [2, 5])
