from __future__ import annotations

import typing

import pytest

from calmflow_sc import _constants as constants


@pytest.mark.parametrize(
    ("alias", "allowed"),
    [
        (constants.Source, constants.SOURCES),
        (constants.Pairing, constants.PAIRINGS),
        (constants.Decoding, constants.DECODINGS),
        (constants.CausalContext, constants.CAUSAL_CONTEXTS),
        (constants.PromptEncoder, constants.PROMPT_ENCODERS),
        (constants.StepTarget, constants.STEP_TARGETS),
        (constants.Finetune, constants.FINETUNE_MODES),
    ],
)
def test_each_choice_is_one_literal_type(alias, allowed):
    assert typing.get_args(alias) == allowed
    for value in allowed:
        assert constants.check_choice("argument", value, allowed) == value
    with pytest.raises(ValueError, match=r"argument must be one of \(.*\), got 'other'\."):
        constants.check_choice("argument", "other", allowed)
