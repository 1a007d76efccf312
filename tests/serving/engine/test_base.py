"""The engine interface (engine/base.py): the errors the API turns into 400 and 413 carry what
their answers say, the truncation policies are the settings' choices, and an engine needs only
its scoring: its other hooks do nothing unless it has them."""

from __future__ import annotations

import asyncio
from typing import get_args

import pytest

from reranker.config import Settings
from reranker.engine.base import (
    Engine,
    InputTooLongError,
    RequestTooLargeError,
    ScoreOptions,
    TruncationPolicy,
)
from tests.support.fake_engine import FakeEngine


def test_a_request_too_large_should_say_how_large_and_name_the_flag():
    error = RequestTooLargeError(1280, 1279, 10)
    assert isinstance(error, ValueError) and not isinstance(error, InputTooLongError)  # a 413, not a 400
    assert (error.tokens, error.limit) == (1280, 1279)
    assert "1280 tokens (10 pairs after truncation), more than the limit of 1279 per request" in str(error)
    assert "--max_request_tokens" in str(error)


def test_an_input_too_long_should_name_its_pair():
    error = InputTooLongError("document 3 is too long", pair_index=3)
    assert isinstance(error, ValueError)
    assert (str(error), error.pair_index) == ("document 3 is too long", 3)


def test_the_truncation_policies_should_be_the_settings_choices():
    assert {policy.value for policy in TruncationPolicy} == set(
        get_args(Settings.model_fields["truncation"].annotation)
    )


def test_a_request_should_get_sigmoid_scores_and_the_servers_policies_by_default():
    assert ScoreOptions() == ScoreOptions(
        use_activation=True, max_tokens_per_doc=None, truncation=None, instruction=None
    )


def test_an_engine_should_need_only_its_scoring():
    with pytest.raises(TypeError, match="abstract"):
        Engine()  # type: ignore[abstract]
    engine = FakeEngine()  # implements info, start, score and count_tokens only
    engine.set_batch_observer(lambda items, tokens: pytest.fail("no batches to observe"))
    assert (engine.dtype, engine.batch_tokens) == (None, None)
    assert asyncio.run(engine.stop()) is None
