"""Registry keys shared by the model and its module."""

from __future__ import annotations

from typing import Literal, NamedTuple, TypeVar, get_args


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

#: Where the flow starts: noise, or control cells of the same context.
Source = Literal["gaussian", "control"]
#: How targets meet their control sources.
Pairing = Literal["condition", "minibatch"]
#: How a predicted state becomes expression.
Decoding = Literal["residual", "pca"]
#: What each state attends to.
CausalContext = Literal["full", "current"]
#: How a condition becomes prompt tokens.
PromptEncoder = Literal["lm", "minilm", "onehot", "components"]
#: What the output of each state block decodes to.
StepTarget = Literal["velocity", "state", "endpoint"]
#: Which of the language model's parameters train.
Finetune = Literal["full", "frozen", "lora"]
#: How the knowledge baselines weigh the similarities of the nearest seen perturbations.
Weighting = Literal["softmax", "power"]
#: Which seen perturbations the knowledge baselines' perturbed mean averages.
ShrinkTarget = Literal["singles", "all"]

SOURCES: tuple[str, ...] = get_args(Source)
PAIRINGS: tuple[str, ...] = get_args(Pairing)
DECODINGS: tuple[str, ...] = get_args(Decoding)
CAUSAL_CONTEXTS: tuple[str, ...] = get_args(CausalContext)
PROMPT_ENCODERS: tuple[str, ...] = get_args(PromptEncoder)
STEP_TARGETS: tuple[str, ...] = get_args(StepTarget)
FINETUNE_MODES: tuple[str, ...] = get_args(Finetune)
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)
SHRINK_TARGETS: tuple[str, ...] = get_args(ShrinkTarget)

_Choice = TypeVar("_Choice", bound=str)


def check_choice(name: str, value: _Choice, allowed: tuple[str, ...]) -> _Choice:
    """Return ``value`` if it is one of ``allowed``, else raise a :class:`ValueError`.

    Parameters
    ----------
    name
        The argument's name, for the message.
    value
        The value given.
    allowed
        The values accepted (one of the tuples above).
    """
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
    return value
