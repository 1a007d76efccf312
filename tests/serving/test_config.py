"""The server settings (config.py): what they refuse (empty or repeated model names, empty API
keys) and what they keep from sight (the keys), and the defaults other parts rely on."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from reranker.cli import settings_from
from reranker.config import Settings


@pytest.mark.parametrize(("names", "problem"), [("reranker,,x", "must not be empty"), ("a,b,a", "repeat")])
def test_should_refuse_empty_or_repeated_served_names(names, problem):
    with pytest.raises(ValidationError, match=problem):
        Settings(model_name=names)


def test_should_take_the_key_from_the_environment_and_never_show_it():
    settings = settings_from([], {"RERANKER_API_KEY": " a-key , b-key "})
    assert settings.api_keys == ["a-key", "b-key"]
    assert "a-key" not in repr(settings)


def test_should_refuse_empty_keys():
    with pytest.raises(SystemExit) as exit_info:
        settings_from([], {"RERANKER_API_KEY": "a,,b"})
    assert exit_info.value.code == 2


def test_the_default_keep_alive_should_outlast_the_proxies_idle_timeout():
    """A proxy reuses an upstream connection it has held idle for up to its own idle timeout (60 s
    is common): the server must not close it first, or the proxy's next request on it fails."""
    assert Settings().keep_alive_timeout > 60
