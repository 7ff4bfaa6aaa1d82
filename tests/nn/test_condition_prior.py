"""Prior effects of conditions: formed as if unmeasured, from contexts, singles or knowledge."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from calmflow_sc.data import ConditionSpace, PromptBuilder, perturbation_components
from calmflow_sc.nn import PRIOR_KINDS, ComponentKnowledge, ConditionPrior

PERTURBATIONS = ["control", "A", "B", "C", "A+B", "D"]
CELL_TYPES = ["t1", "t2"]
D = 3
#: measured effect of each single in each cell type (C, D and A+B in t1 only)
EFFECTS = {
    ("A", "t1"): [1.0, 0.0, 0.0],
    ("A", "t2"): [2.0, 0.0, 0.0],
    ("B", "t1"): [0.0, 1.0, 0.0],
    ("B", "t2"): [0.0, 3.0, 0.0],
    ("C", "t1"): [0.0, 0.0, 1.0],
    ("A+B", "t1"): [0.5, 0.5, 0.0],
}
CONTROL_MEAN = {"t1": [0.0, 0.0, 0.0], "t2": [10.0, 10.0, 10.0]}


def builder() -> PromptBuilder:
    return PromptBuilder(perturbation_key="condition", control_value="control", cell_type_key="t")


def fitted(knowledge: ComponentKnowledge | None = None) -> ConditionPrior:
    space = ConditionSpace(builder(), PERTURBATIONS, CELL_TYPES)
    prior = ConditionPrior(
        space,
        knowledge or ComponentKnowledge(),
        lambda label: perturbation_components(label, "control"),
        D,
    )
    rows, states = [], []
    for cell_type in CELL_TYPES:
        obs = pd.DataFrame({"condition": ["control"], "t": [cell_type]})
        for offset in (-1.0, 1.0):  # two control cells around the mean
            rows.append(space.condition_rows(obs)[0])
            states.append(np.asarray(CONTROL_MEAN[cell_type]) + offset)
    for (perturbation, cell_type), effect in EFFECTS.items():
        obs = pd.DataFrame({"condition": [perturbation], "t": [cell_type]})
        rows.append(space.condition_rows(obs)[0])
        states.append(np.asarray(CONTROL_MEAN[cell_type]) + effect)
    states = torch.as_tensor(np.stack(states), dtype=torch.float32)
    control_means = torch.as_tensor([CONTROL_MEAN[c] for c in CELL_TYPES], dtype=torch.float32)
    prior.fit(states, np.asarray(rows), control_means)
    return prior


def ask(prior: ConditionPrior, perturbation: str, cell_type: str, measured: bool = True):
    estimate = prior.estimate(
        pd.DataFrame({"condition": [perturbation], "t": [cell_type]}), measured=measured
    )
    return estimate.effects[0], estimate.support[0], estimate.kinds[0], estimate.neighbours[0]


def embeddings(rows: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(rows).T


def test_measured_effects_are_condition_means_minus_context_controls():
    prior = fitted()
    space = prior.space
    row = space.condition_rows(pd.DataFrame({"condition": ["B"], "t": ["t2"]}))[0]
    np.testing.assert_allclose(prior.effects[row].numpy(), EFFECTS[("B", "t2")], atol=1e-6)
    assert int(prior.counts[row]) == 1
    control = space.condition_rows(pd.DataFrame({"condition": ["control"], "t": ["t1"]}))[0]
    assert int(prior.counts[control]) == 0  # controls carry no effect


def test_a_condition_measured_in_other_contexts_takes_its_effect_there():
    effect, support, kind, _ = ask(fitted(), "C", "t2")
    np.testing.assert_allclose(effect, EFFECTS[("C", "t1")], atol=1e-6)
    assert (support, kind) == (1.0, "context")
    # A was measured in t1: its own effect, or as if unmeasured there, its effect in t2
    effect, support, kind, _ = ask(fitted(), "A", "t1")
    np.testing.assert_allclose(effect, EFFECTS[("A", "t1")], atol=1e-6)
    assert (support, kind) == (1.0, "measured")
    effect, _, kind, _ = ask(fitted(), "A", "t1", measured=False)
    np.testing.assert_allclose(effect, EFFECTS[("A", "t2")], atol=1e-6)
    assert kind == "context"


def test_a_combination_adds_its_singles_measured_in_the_same_context():
    # A+B in t2 was never measured there but in t1: its own effect elsewhere comes first
    effect, _, kind, _ = ask(fitted(), "A+B", "t2")
    assert kind == "context"
    np.testing.assert_allclose(effect, EFFECTS[("A+B", "t1")], atol=1e-6)
    # B+C was never measured anywhere: the sum of the singles, C's from its only context
    effect, support, kind, _ = ask(fitted(), "B+C", "t2")
    np.testing.assert_allclose(effect, np.add(EFFECTS[("B", "t2")], EFFECTS[("C", "t1")]))
    assert (support, kind) == (1.0, "combination")


def test_without_knowledge_an_unmeasured_component_gets_the_mean_single_effect():
    effect, support, kind, neighbours = ask(fitted(), "D", "t1")
    singles = [EFFECTS[("A", "t1")], EFFECTS[("B", "t1")], EFFECTS[("C", "t1")]]
    np.testing.assert_allclose(effect, np.mean(singles, axis=0), atol=1e-6)
    assert (support, kind, neighbours) == (0.0, "mean", {})


def test_knowledge_places_an_unmeasured_component_near_its_neighbours():
    knowledge = ComponentKnowledge.build(
        embeddings=embeddings(
            {
                "A": [1.0, 0.0, 0.0, 0.1],
                "B": [0.0, 1.0, 0.0, 0.1],
                "C": [0.0, 0.0, 1.0, 0.1],
                "D": [0.05, 1.0, 0.0, 0.1],  # like B
            }
        )
    )
    prior = fitted(knowledge)
    effect, support, kind, neighbours = ask(prior, "D", "t1")
    assert kind == "knowledge"
    assert 0.5 < support <= 1.0
    assert max(neighbours["D"], key=neighbours["D"].get) == "B"
    # the estimate lies between B's effect and the mean of the singles
    mean = np.mean([EFFECTS[(p, "t1")] for p in "ABC"], axis=0)
    toward_b = np.dot(effect - mean, np.subtract(EFFECTS[("B", "t1")], mean))
    assert toward_b >= 0
    # a pair with an unmeasured component: its estimate plus the measured single
    pair, pair_support, pair_kind, _ = ask(prior, "A+D", "t1")
    np.testing.assert_allclose(pair, effect + EFFECTS[("A", "t1")], atol=1e-5)
    assert (pair_support, pair_kind) == (pytest.approx(support), "knowledge")


def test_the_table_reads_measured_effects_and_stores_as_if_unmeasured_priors():
    prior = fitted()
    space = prior.space
    table = space.table()
    as_if = prior.features(prior.estimate(table, measured=False))
    torch.testing.assert_close(prior.priors, as_if)
    features = prior.table_features()
    measured = prior.counts > 0
    torch.testing.assert_close(features[~measured], as_if[~measured])
    torch.testing.assert_close(features[measured, :D], prior.effects[measured])
    assert (features[measured, D : D + 2] == 1.0).all()  # support 1, kind "measured"
    # knowledge added later leaves a measured condition's prior as it is
    before = ask(prior, "A+B", "t1")
    prior.knowledge.add(embeddings=embeddings({"A": [1.0, 0.0], "B": [0.0, 1.0], "C": [1, 1]}))
    np.testing.assert_array_equal(ask(prior, "A+B", "t1")[0], before[0])


def test_features_pack_effect_support_and_kind():
    prior = fitted()
    features = prior.features(prior.estimate(pd.DataFrame({"condition": ["D"], "t": ["t1"]})))
    assert features.shape == (1, prior.n_features)
    assert features[0, D] == 0.0  # support
    assert features[0, D + 1 :].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]  # kind "mean"


def test_a_partial_prior_takes_a_combinations_first_component_as_unmeasured():
    prior = fitted()
    frame = pd.DataFrame({"condition": ["A+B"], "t": ["t1"]})
    partial = prior.estimate(frame, measured=False, partial=True)
    # no knowledge: A is the mean of the other measured singles (B, C) in t1, plus B's effect
    mean_others = np.mean([EFFECTS[("B", "t1")], EFFECTS[("C", "t1")]], axis=0)
    np.testing.assert_allclose(partial.effects[0], mean_others + EFFECTS[("B", "t1")], atol=1e-6)
    assert (partial.kinds[0], partial.support[0]) == ("mean", 0.0)
    # a single is read as if unmeasured either way
    single = pd.DataFrame({"condition": ["C"], "t": ["t1"]})
    a = prior.estimate(single, measured=False)
    b = prior.estimate(single, measured=False, partial=True)
    np.testing.assert_array_equal(a.effects, b.effects)
    row = prior.space.condition_rows(frame)[0]
    torch.testing.assert_close(prior.partial_priors[row], prior.features(partial)[0])


def test_trust_weighs_a_prior_by_its_kind_and_support():
    prior = fitted()
    frame = pd.DataFrame({"condition": ["D", "B+C"], "t": ["t1", "t2"]})
    features = prior.features(prior.estimate(frame))
    effects = features[:, :D]
    torch.testing.assert_close(prior.trusted(features), effects)  # full trust to start
    with torch.no_grad():
        prior.trust[PRIOR_KINDS.index("mean")] = torch.tensor([0.25, 0.0])
        prior.trust[PRIOR_KINDS.index("combination")] = torch.tensor([0.5, 0.25])
    trusted = prior.trusted(features)
    torch.testing.assert_close(trusted[0], 0.25 * effects[0])  # "mean", support 0
    torch.testing.assert_close(trusted[1], 0.75 * effects[1])  # "combination", support 1
    assert prior.trust.requires_grad  # learned with the weights
