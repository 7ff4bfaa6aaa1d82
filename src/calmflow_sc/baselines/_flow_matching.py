"""Baseline: plain conditional flow matching with an MLP velocity field."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._anndata import get_expression
from .._constants import SOURCES, Source, check_choice
from ..data import ConditionEncoder, PCARepresentation, pair_within_groups
from ._base import Baseline, control_pools

if TYPE_CHECKING:
    from anndata import AnnData


class VelocityField(nn.Module):
    """MLP ``v(x_t, t, c)`` of the state, a Fourier code of the time and the condition.

    Parameters
    ----------
    n_dims
        Dimension of the state.
    n_conditions
        Length of the condition code.
    hidden_size
        Width of the hidden layers.
    n_layers
        Number of hidden layers.
    n_frequencies
        Number of sine/cosine pairs encoding the time.
    """

    def __init__(
        self,
        n_dims: int,
        n_conditions: int,
        hidden_size: int = 256,
        n_layers: int = 3,
        n_frequencies: int = 8,
    ) -> None:
        super().__init__()
        self.register_buffer(
            "frequencies", math.pi * torch.arange(1, n_frequencies + 1, dtype=torch.float32)
        )
        layers: list[nn.Module] = []
        width = n_dims + n_conditions + 1 + 2 * n_frequencies
        for _ in range(n_layers):
            layers += [nn.Linear(width, hidden_size), nn.SiLU()]
            width = hidden_size
        layers.append(nn.Linear(width, n_dims))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, t: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Velocity at states ``x`` ``(n, D)``, times ``t`` ``(n, 1)``, conditions ``(n, C)``."""
        angles = t * self.frequencies
        return self.net(torch.cat([x, t, angles.sin(), angles.cos(), condition], dim=-1))


class FlowMatchingBaseline(Baseline):
    r"""Conditional flow matching with an MLP velocity field (the paper's "CFM" baseline).

    Cells live in the same space as :class:`~calmflow_sc.CaLMFlowPerturb`'s: a PCA of the
    expression fitted on the training cells, scaled to unit average variance. A velocity field
    :math:`v_\theta(x_t, t, c)` is trained on straight paths
    :math:`x_t = (1 - t) x_0 + t x_1` with the loss :math:`\lVert v_\theta - (x_1 - x_0)\rVert^2`,
    where the condition :math:`c` is a one-hot code of the cell type and covariates plus a
    multi-hot code of the perturbation's components (a pair is the sum of its singles).
    Sources and targets are paired by exact optimal transport within each condition of a
    minibatch (OT-CFM). Sampling integrates the ODE with ``n_ode_steps`` midpoint steps.

    - ``source="control"``: :math:`x_0` is a control cell of the same cell type and covariates
      (of the same cell type when none matches, of any type when the cell type has none); the
      flows lead to the perturbed cells. A prediction moves each given control cell by its
      flow's displacement, keeping its detail outside the PCA, and "no perturbation" returns
      the cell itself.
    - ``source="gaussian"``: :math:`x_0 \sim N(0, I)`, flows lead to every cell; a prediction
      is a sample of the condition (one per given cell), mapped back to every gene.

    Parameters
    ----------
    adata
        Training data (never modified).
    perturbation_key, control_value, cell_type_key, layer, covariate_keys
        As in :class:`Baseline`.
    source
        ``"control"`` or ``"gaussian"``.
    n_components
        Number of principal components.
    hidden_size, n_layers
        Size of the MLP.
    n_iterations
        Optimisation steps.
    batch_size
        Target cells per step.
    lr
        Learning rate of AdamW.
    n_ode_steps
        Midpoint steps of the sampler.
    seed
        Seed of initialisation, minibatches and path noise.
    device
        Torch device to train and predict on.

    Examples
    --------
    >>> FlowMatchingBaseline.setup_anndata(adata, "condition", "control", cell_type_key="cell_type")  # doctest: +SKIP
    >>> cfm = FlowMatchingBaseline(adata, source="control").train()  # doctest: +SKIP
    >>> cfm.predict(adata_ctrl, "stim", key_added="cfm")  # doctest: +SKIP
    """

    def __init__(
        self,
        adata: AnnData,
        *args: Any,
        source: Source = "control",
        n_components: int = 50,
        hidden_size: int = 256,
        n_layers: int = 3,
        n_iterations: int = 2000,
        batch_size: int = 256,
        lr: float = 1e-3,
        n_ode_steps: int = 20,
        seed: int = 0,
        device: str = "cpu",
        combination_delimiter: str = "+",
        **kwargs: Any,
    ) -> None:
        super().__init__(adata, *args, **kwargs)
        check_choice("source", source, SOURCES)
        for name, value in [
            ("n_components", n_components),
            ("n_iterations", n_iterations),
            ("batch_size", batch_size),
            ("n_ode_steps", n_ode_steps),
        ]:
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        self.source = source
        self.n_components = min(int(n_components), adata.n_obs - 1, adata.n_vars)
        self.hidden_size = hidden_size
        self.n_layers = n_layers
        self.n_iterations = int(n_iterations)
        self.batch_size = int(batch_size)
        self.lr = lr
        self.n_ode_steps = int(n_ode_steps)
        self.seed = seed
        self.device = torch.device(device)
        self.combination_delimiter = combination_delimiter
        self.history_: list[float] = []

    # ------------------------------------------------------------------ training
    def _train(self) -> None:
        expression = get_expression(self.adata, self.layer)
        contexts = self._contexts(self.adata.obs, "adata")
        perturbations = self.adata.obs[self.perturbation_key].astype(str).to_numpy()
        is_control = perturbations == self.control_value
        self.encoder_ = ConditionEncoder.fit(
            contexts, perturbations, self.control_value, self.combination_delimiter
        )
        self.representation_ = PCARepresentation(self.adata.n_vars, self.n_components)
        self.representation_.fit(expression, seed=self.seed)
        self.representation_.to(self.device)
        with torch.no_grad():
            states = self.representation_.transform_matrix(expression)
        features = torch.as_tensor(
            self.encoder_.encode(contexts, perturbations), dtype=torch.float32, device=self.device
        )
        targets = (
            np.flatnonzero(~is_control) if self.source == "control" else np.arange(len(states))
        )
        if len(targets) == 0:
            raise ValueError("No perturbed cells to learn flows to.")
        context_rows = [tuple(r) for r in contexts.to_numpy(dtype=str)]
        self.control_pools_ = control_pools(contexts.to_numpy(dtype=str), is_control, context_rows)
        pool_names = list(self.control_pools_)
        pools = [self.control_pools_[name] for name in pool_names]
        pool_index = {name: i for i, name in enumerate(pool_names)}
        pool_of = np.array([pool_index[row] for row in context_rows])
        condition_codes = pd.factorize(
            pd.Series([f"{c}|{p}" for c, p in zip(context_rows, perturbations, strict=True)])
        )[0]
        self.control_states_ = states[torch.as_tensor(np.flatnonzero(is_control))].cpu()

        rng = np.random.default_rng(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.velocity_ = VelocityField(
                self.n_components, self.encoder_.n_features, self.hidden_size, self.n_layers
            ).to(self.device)
            optimizer = torch.optim.AdamW(
                self.velocity_.parameters(), lr=self.lr, weight_decay=1e-4
            )
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.n_iterations)
            self.velocity_.train()
            for _ in range(self.n_iterations):
                batch = rng.choice(targets, size=min(self.batch_size, len(targets)), replace=False)
                target = states[torch.as_tensor(batch)]
                if self.source == "control":
                    partners = np.empty(len(batch), dtype=np.int64)
                    for pool in np.unique(pool_of[batch]):
                        members = np.flatnonzero(pool_of[batch] == pool)
                        partners[members] = rng.choice(pools[pool], size=len(members))
                    source = states[torch.as_tensor(partners)]
                else:
                    source = torch.randn_like(target)
                source = pair_within_groups(source, target, condition_codes[batch])
                t = torch.rand(len(batch), 1, device=self.device)
                x_t = (1 - t) * source + t * target
                loss = (
                    (self.velocity_(x_t, t, features[torch.as_tensor(batch)]) - (target - source))
                    .pow(2)
                    .sum(-1)
                    .mean()
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
                self.history_.append(loss.item())
        self.velocity_.eval()

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def integrate(self, source: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """Integrate the learned ODE from ``source`` (model space) to time 1 (midpoint rule)."""
        x = source
        dt = 1.0 / self.n_ode_steps
        for step in range(self.n_ode_steps):
            t = torch.full((len(x), 1), step * dt, device=x.device)
            half = x + 0.5 * dt * self.velocity_(x, t, condition)
            x = x + dt * self.velocity_(half, t + 0.5 * dt, condition)
        return x

    def _predict_expression(
        self,
        expression: np.ndarray,
        contexts: pd.DataFrame,
        perturbation: str,
        rng: np.random.Generator,
    ) -> np.ndarray:
        if self.source == "control" and not self.encoder_.components(perturbation):
            return expression  # no perturbation: the flow from a control cell is the identity
        condition = torch.as_tensor(
            self.encoder_.encode(contexts, [perturbation] * len(contexts)),
            dtype=torch.float32,
            device=self.device,
        )
        representation = self.representation_
        cells = torch.as_tensor(expression, dtype=torch.float32, device=self.device)
        with torch.no_grad():
            if self.source == "control":
                start = representation.transform(cells)
                end = self.integrate(start, condition)
                moved = representation.move(cells, start, end)
            else:
                noise = rng.standard_normal((len(contexts), self.n_components))
                start = torch.as_tensor(noise, dtype=torch.float32, device=self.device)
                moved = representation.inverse_transform(self.integrate(start, condition))
        return moved.double().cpu().numpy()
