"""Prior effects of conditions: what the measured effects say about a condition asked about."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import ConditionSpace
from ._component_knowledge import ComponentKnowledge

#: How a prior was formed, in the order of its one-hot code among the prior features: the
#: condition's own measured effect; its own effect in other contexts; the sum of its
#: components' measured effects; with a component estimated from its knowledge; or the mean
#: measured effect (no knowledge to tell components apart).
PRIOR_KINDS = ("measured", "context", "combination", "knowledge", "mean")
#: Temperatures of the similarity softmax that the leave-one-out chooses among.
PRIOR_TEMPERATURES = (0.03, 0.1, 0.3)
#: How many nearest measured components a support record lists.
N_NEIGHBOURS_SHOWN = 3


@dataclass
class PriorEstimate:
    """Prior effects of conditions (model space), how each was formed and its support.

    Attributes
    ----------
    effects
        ``(n, D)`` prior effects (shifts from the context's control cells).
    support
        ``(n,)`` in ``[0, 1]``: 1 where every part was measured; for a component estimated
        from knowledge, the cosine similarity of its knowledge with the nearest measured
        component's (0 without knowledge); a condition's lowest over its components.
    kinds
        One of :data:`PRIOR_KINDS` per condition (``""`` for the control).
    neighbours
        Per condition, the nearest measured components of each part estimated from
        knowledge, ``{part: {neighbour: weight}}``.
    """

    effects: np.ndarray
    support: np.ndarray
    kinds: list[str]
    neighbours: list[dict[str, dict[str, float]]] = field(default_factory=list)


class ConditionPrior(nn.Module):
    r"""The prior effect of any condition, from the effects measured in training.

    A condition measured in training has its own mean effect as prior (``"measured"``). The
    prior of any other condition, and the *as-if-unmeasured* prior of a measured one (what
    training teaches the network to complete), is formed without the condition's own
    measurement: its own effect in other contexts (cell types, covariates) when it was measured there
    (``"context"``); else the sum of its components' effects, each measured alone
    (``"combination"``) or, for a component not measured alone (the condition itself when it
    is a single), estimated from the components measured alone with the most similar
    knowledge (``"knowledge"``): a softmax of cosine similarities at temperature :math:`T`,
    shrunk toward their mean by :math:`\alpha`, both chosen by leave-one-out over the
    measured single components. Without knowledge an estimate is their mean (``"mean"``).
    Doses are pooled: a component's effect is the mean over its measured doses.

    The measured effects (each registered condition's mean state minus its context's
    control mean) and the as-if-unmeasured priors of the registered conditions (with every
    component unmeasured, and with a combination's first component unmeasured) are buffers,
    saved with the weights; knowledge added later changes the priors of unmeasured
    conditions only.

    Parameters
    ----------
    space
        The model's conditions.
    knowledge
        Knowledge of components (shared with the prompt encoder).
    components
        The components of a perturbation label.
    n_components
        Dimension ``D`` of model space.
    """

    def __init__(
        self,
        space: ConditionSpace,
        knowledge: ComponentKnowledge,
        components: Callable[[str], list[str]],
        n_components: int,
    ):
        super().__init__()
        self.space = space
        self.knowledge = knowledge
        self.components = components
        self.n_components = int(n_components)
        table = space.table()
        self._row_perturbations = table[space.builder.perturbation_key].astype(str).to_numpy()
        self._row_contexts = np.arange(len(table)) % space.n_contexts
        self._row_treatments = np.arange(len(table)) // space.n_contexts
        n_rows = len(table)
        self.register_buffer("effects", torch.zeros(n_rows, self.n_components))
        self.register_buffer("counts", torch.zeros(n_rows, dtype=torch.long))
        self.register_buffer("priors", torch.zeros(n_rows, self.n_features))
        self.register_buffer("partial_priors", torch.zeros(n_rows, self.n_features))
        #: how far each kind of prior is trusted: a weight ``a + b * support`` per kind,
        #: learned in training from full trust (1, 0)
        self.trust = nn.Parameter(torch.tensor([[1.0, 0.0]] * len(PRIOR_KINDS)))

    @property
    def n_features(self) -> int:
        """Length of a condition's prior features: effect, support and kind."""
        return self.n_components + 1 + len(PRIOR_KINDS)

    @property
    def is_fitted(self) -> bool:
        """Whether measured effects are stored."""
        return bool((self.counts > 0).any())

    # ------------------------------------------------------------------ fitting
    def fit(self, states: torch.Tensor, conditions: np.ndarray, control_means: torch.Tensor):
        """Store each registered condition's measured effect and the priors of every row.

        Parameters
        ----------
        states
            Model-space states of the cells, ``(n_cells, D)``.
        conditions
            Row of the condition table of each cell (controls included; they get no prior).
        control_means
            Mean control state of each context, ``(n_contexts, D)``.
        """
        n_rows = len(self._row_perturbations)
        counts = np.bincount(conditions, minlength=n_rows)
        sums = torch.zeros(n_rows, self.n_components, dtype=torch.float64)
        sums.index_add_(0, torch.as_tensor(conditions), states.double())
        means = sums / torch.as_tensor(np.maximum(counts, 1))[:, None]
        effects = means - control_means.double()[torch.as_tensor(self._row_contexts)]
        measured = torch.as_tensor(counts > 0)
        measured &= torch.as_tensor(self._row_perturbations != self.space.builder.control_value)
        device = self.effects.device
        self.effects.copy_(torch.where(measured[:, None], effects, 0.0).float().to(device))
        self.counts.copy_(torch.as_tensor(np.where(measured.numpy(), counts, 0)).to(device))
        table = self.space.table()
        self.priors.copy_(self.features(self.estimate(table, measured=False)).to(device))
        partial = self.estimate(table, measured=False, partial=True)
        self.partial_priors.copy_(self.features(partial).to(device))

    def table_features(self) -> torch.Tensor:
        """Prior features of every registered condition as predicted: ``(n_rows, n_features)``.

        A measured condition's own effect, else its as-if-unmeasured prior.
        """
        measured = self.counts > 0
        own = torch.zeros_like(self.priors)
        own[:, : self.n_components] = self.effects
        own[:, self.n_components] = 1.0
        own[:, self.n_components + 1 + PRIOR_KINDS.index("measured")] = 1.0
        return torch.where(measured[:, None], own, self.priors)

    def trusted(self, features: torch.Tensor) -> torch.Tensor:
        """The prior effects of prior features, weighted by the learned trust, ``(N, D)``."""
        d = self.n_components
        effect, support, kinds = features[:, :d], features[:, d : d + 1], features[:, d + 1 :]
        kinds = kinds.to(self.trust.dtype)
        weight = kinds @ self.trust[:, :1] + support * (kinds @ self.trust[:, 1:])
        return effect * weight.to(effect.dtype)

    # ------------------------------------------------------------------ features
    def features(self, estimate: PriorEstimate) -> torch.Tensor:
        """Prior features ``(n, n_features)``: the effect, the support, the kind's one-hot."""
        kinds = np.zeros((len(estimate.kinds), len(PRIOR_KINDS)), dtype=np.float32)
        for row, kind in enumerate(estimate.kinds):
            if kind:
                kinds[row, PRIOR_KINDS.index(kind)] = 1.0
        return torch.as_tensor(
            np.concatenate([estimate.effects, estimate.support[:, None], kinds], axis=1),
            dtype=torch.float32,
        )

    def estimate(
        self, conditions: pd.DataFrame, measured: bool = True, partial: bool = False
    ) -> PriorEstimate:
        """The prior of every row of ``conditions`` (the prompt builder's columns).

        With ``measured``, a condition measured in training gets its own effect (kind
        ``"measured"``); otherwise every prior is formed as if its condition were unmeasured,
        and with ``partial`` as if a combination's first component had never been measured
        (alone or in any context), the situation of a pair with a component never measured.
        """
        keys = self.space.builder
        rows = self.space.condition_rows(conditions)
        codes = self.space.context_codes(conditions)
        contexts = self.space.context_index(codes.numpy()) if codes is not None else None
        counts = self.counts.cpu().numpy()
        effects_table = self.effects.cpu().numpy()
        own = measured & (rows >= 0) & (counts[np.maximum(rows, 0)] > 0)
        effects = np.zeros((len(conditions), self.n_components), dtype=np.float32)
        support = np.ones(len(conditions), dtype=np.float32)
        kinds, neighbours = ["measured"] * len(conditions), [{} for _ in range(len(conditions))]
        effects[own] = effects_table[rows[own]]
        if own.all():  # the common case of prediction: nothing to estimate
            return PriorEstimate(effects, support, kinds, neighbours)
        singles = self._measured_singles()
        choice = self._loo_choice(singles)
        perturbations = conditions[keys.perturbation_key].astype(str).tolist()
        for i in np.flatnonzero(~own):
            context = int(contexts[i]) if contexts is not None else -1
            effects[i], support[i], kinds[i], neighbours[i] = self._one(
                perturbations[i], int(rows[i]), context, singles, choice, partial
            )
        return PriorEstimate(effects, support, kinds, neighbours)

    # ------------------------------------------------------------------ the estimates
    def _one(self, perturbation, row, context, measured, choice, partial=False):
        """Prior effect, support, kind and neighbours of one condition (``row``: its row).

        ``partial``: a combination's first component is taken as unmeasured.
        """
        parts = self.components(perturbation)
        if not parts:
            return np.zeros(self.n_components), 1.0, "", {}
        partial = partial and len(parts) > 1
        elsewhere = None if partial else self._elsewhere(row, context)
        if elsewhere is not None:
            return elsewhere, 1.0, "context", {}
        total = np.zeros(self.n_components)
        supports, used, kinds = [], {}, set()
        for position, part in enumerate(parts):
            if len(parts) > 1 and part in measured and not (partial and position == 0):
                total += self._single_effect(measured[part], context)
                supports.append(1.0)
                kinds.add("combination")
                continue
            effect, part_support, weights = self._from_knowledge(part, context, measured, choice)
            total += effect
            supports.append(part_support)
            kinds.add("knowledge" if weights else "mean")
            if weights:
                used[part] = weights
        kind = next(k for k in ("mean", "knowledge", "combination") if k in kinds)
        return total, float(min(supports)), kind, used

    def _elsewhere(self, row: int, context: int) -> np.ndarray | None:
        """Mean effect of the row's treatment measured in other contexts, or ``None``."""
        if row < 0:
            return None
        counts = self.counts.cpu().numpy()
        same = self._row_treatments == row // self.space.n_contexts
        others = np.flatnonzero(same & (counts > 0) & (self._row_contexts != context))
        if len(others) == 0:
            return None
        return self.effects.cpu().numpy()[others].astype(np.float64).mean(0)

    def _measured_singles(self) -> dict[str, dict[int, np.ndarray]]:
        """Components measured alone: their mean effect (over doses) in each context."""
        counts = self.counts.cpu().numpy()
        effects = self.effects.cpu().numpy().astype(np.float64)
        singles: dict[str, dict[int, list]] = {}
        for row in np.flatnonzero(counts > 0):
            parts = self.components(self._row_perturbations[row])
            if len(parts) == 1:
                by_context = singles.setdefault(parts[0], {})
                by_context.setdefault(int(self._row_contexts[row]), []).append(
                    (effects[row], counts[row])
                )
        return {
            name: {
                context: np.average([e for e, _ in rows], axis=0, weights=[n for _, n in rows])
                for context, rows in by_context.items()
            }
            for name, by_context in singles.items()
        }

    @staticmethod
    def _single_effect(by_context: dict[int, np.ndarray], context: int) -> np.ndarray:
        """A component's effect in ``context``, or its mean over the contexts measured."""
        if context in by_context:
            return by_context[context]
        return np.mean(list(by_context.values()), axis=0)

    def _similarities(self, name: str, others: list[str]) -> np.ndarray:
        """Cosine similarities of ``name``'s knowledge with that of ``others``."""
        vectors = nn.functional.normalize(self.knowledge.lookup([name, *others]).double(), dim=1)
        return (vectors[1:] @ vectors[0]).numpy()

    def _from_knowledge(self, part, context, measured, choice):
        """Estimate of a component from the other measured singles: effect, support, weights."""
        others = [name for name in measured if name != part]
        if not others:
            return np.zeros(self.n_components), 0.0, {}
        effects = np.stack([self._single_effect(measured[name], context) for name in others])
        mean = effects.mean(0)
        known = [i for i, name in enumerate(others) if name in self.knowledge]
        if part not in self.knowledge or not known:
            return mean, 0.0, {}
        temperature, shrinkage = choice
        similarity = self._similarities(part, [others[i] for i in known])
        weights = _softmax(similarity / temperature)
        estimate = (1 - shrinkage) * weights @ effects[known] + shrinkage * mean
        top = np.argsort(-weights, kind="stable")[:N_NEIGHBOURS_SHOWN]
        shown = {others[known[j]]: float(weights[j]) for j in top}
        return estimate, float(max(similarity.max(), 0.0)), shown

    def _loo_choice(self, measured: dict[str, dict[int, np.ndarray]]) -> tuple[float, float]:
        """Temperature and shrinkage minimising the leave-one-out error over measured singles."""
        names = [name for name in measured if name in self.knowledge]
        if len(names) < 3:
            return PRIOR_TEMPERATURES[0], 1.0
        effects = np.stack([np.mean(list(measured[n].values()), axis=0) for n in names])
        vectors = nn.functional.normalize(self.knowledge.lookup(names).double(), dim=1).numpy()
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        loo_mean = (effects.sum(0) - effects) / (len(names) - 1)
        best = (np.inf, PRIOR_TEMPERATURES[0], 1.0)
        for temperature in PRIOR_TEMPERATURES:
            weights = _softmax(similarity / temperature, axis=1)
            gap = weights @ effects - loo_mean  # the estimate's departure from the mean
            residual = effects - loo_mean
            shrinkage = 1.0 - float(
                np.clip((gap * residual).sum() / max((gap**2).sum(), 1e-12), 0, 1)
            )
            error = float((((1 - shrinkage) * gap - residual) ** 2).sum())
            if error < best[0]:
                best = (error, temperature, shrinkage)
        return best[1], best[2]


def _softmax(values: np.ndarray, axis: int = -1) -> np.ndarray:
    values = values - values.max(axis=axis, keepdims=True)
    weights = np.exp(values)
    return weights / weights.sum(axis=axis, keepdims=True)
