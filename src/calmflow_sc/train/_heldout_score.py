"""Scoring held-out conditions during training: their predictions against their real cells."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from lightning.pytorch import Callback

from ..metrics import energy_distance

if TYPE_CHECKING:
    from ..module import CaLMFlowModule

#: The logged score: the mean, over the kinds held out, of the kind's mean energy distance.
HELDOUT_MONITOR = "heldout_distance_validation"


class HeldOutConditionScore(Callback):
    """Predict held-out conditions from their controls at every validation; log the distance.

    Each scored condition's flows start from the same control cells, with the same noise, at
    every validation, so that the score changes only with the weights. The score is the energy
    distance, in model space, between the predicted and the real cells of the condition,
    averaged within each kind and then over kinds; it is logged as :data:`HELDOUT_MONITOR`
    (and each kind as ``heldout_distance_{kind}``; another prefix with ``name``), where early
    stopping and :class:`~calmflow_sc.train.RestoreBestWeights` can watch it.

    Parameters
    ----------
    prompts
        Token inputs and mask of each scored condition's prompt, ``(n, L)`` each.
    contexts
        Context index of each scored condition.
    targets
        Model-space states of each scored condition's real cells (a sample).
    kinds
        Kind of each scored condition.
    temperature
        Inference temperature of the rollouts.
    n_cells
        Cells predicted per condition.
    seed
        Seed of the control cells and the noise.
    name
        Prefix of the logged scores: ``{name}_validation`` and ``{name}_{kind}``.
    """

    def __init__(
        self,
        prompts: tuple[torch.Tensor, torch.Tensor],
        contexts: np.ndarray,
        targets: list[torch.Tensor],
        kinds: tuple[str, ...],
        temperature: float = 1.0,
        n_cells: int = 128,
        seed: int = 0,
        name: str = "heldout_distance",
    ):
        super().__init__()
        self.prompts = prompts
        self.contexts = np.asarray(contexts)
        self.targets = [t.float().cpu().numpy() for t in targets]
        self.kinds = tuple(kinds)
        self.temperature = float(temperature)
        self.n_cells = int(n_cells)
        self.seed = int(seed)
        self.name = name

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        """Score the held-out conditions and log the scores."""
        if trainer.sanity_checking:
            return
        scores = self.score(pl_module.module)
        by_kind = {}
        kinds = np.asarray(self.kinds)
        for kind in dict.fromkeys(self.kinds):
            by_kind[kind] = float(np.mean(np.asarray(scores)[kinds == kind]))
            pl_module.log(f"{self.name}_{kind}", by_kind[kind], on_epoch=True)
        mean = float(np.mean(list(by_kind.values())))
        pl_module.log(f"{self.name}_validation", mean, on_epoch=True)

    @torch.no_grad()
    def score(self, module: CaLMFlowModule) -> list[float]:
        """Energy distance of each scored condition's prediction to its real cells."""
        training = module.training
        module.eval()
        try:
            return [self._distance(module, i) for i in range(len(self.contexts))]
        finally:
            module.train(training)

    def _distance(self, module: CaLMFlowModule, index: int) -> float:
        device = module.representation.mean.device
        width = module.n_trajectories
        n_sequences = -(-self.n_cells // width)
        generator = torch.Generator().manual_seed(self.seed + index)
        uniform = torch.rand(n_sequences * width, generator=generator)
        if module.source == "control":
            contexts = torch.full((n_sequences * width,), int(self.contexts[index]))
            sources = module.control_pool.sample(contexts, uniform=uniform)
        else:
            sources = torch.randn(n_sequences * width, module.n_components, generator=generator)
        ids, mask = (x[index : index + 1].expand(n_sequences, -1) for x in self.prompts)
        states = module.rollout(
            ids.to(device),
            mask.to(device),
            sources.reshape(n_sequences, width, -1).to(device),
            temperature=self.temperature,
            generator=generator,
        )
        predicted = states[:, -1].reshape(-1, states.shape[-1])[: self.n_cells]
        return energy_distance(predicted.float().cpu().numpy(), self.targets[index])
