"""Registry keys shared by the model and its module."""

from __future__ import annotations

from typing import NamedTuple


class _RegistryKeys(NamedTuple):
    X_KEY: str = "X"
    PERTURBATION_KEY: str = "perturbation"
    CELL_TYPE_KEY: str = "cell_type"
    COVARIATES_KEY: str = "covariates"
    DOSE_KEY: str = "dose"


REGISTRY_KEYS = _RegistryKeys()


class _BatchKeys(NamedTuple):
    STATES_KEY: str = "states"
    CONDITION_KEY: str = "condition"


#: Keys of the training minibatches that the data loader hands to the module.
BATCH_KEYS = _BatchKeys()
SOURCES = ("gaussian", "control")
PAIRINGS = ("condition", "minibatch")
DECODINGS = ("residual", "pca")
CAUSAL_CONTEXTS = ("full", "current")
PROMPT_ENCODERS = ("lm", "minilm", "onehot", "components")
STEP_TARGETS = ("velocity", "state", "endpoint")
