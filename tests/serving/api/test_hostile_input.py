"""Hostile input gets a 400 in the API's shape, never a 500: text that is not valid Unicode (lone
surrogates, which JSON escapes allow), and errors that quote such text still render."""

from __future__ import annotations

import json

import pytest

from tests.support.app import assert_error

LONE = ["\ud800", "\udfff", "a\udc80b"]

# (route, body with the bad text in a given field, error param)
CASES = [
    ("/openai/v1/rerank", lambda bad: {"query": "q", "documents": ["fine", bad]}, "documents"),
    ("/openai/v1/rerank", lambda bad: {"query": bad, "documents": ["fine"]}, "query"),
    ("/v1/rerank", lambda bad: {"query": "q", "documents": [{"text": bad}]}, "documents"),
    ("/v2/rerank", lambda bad: {"query": "q", "documents": ["fine", bad]}, "documents"),
    ("/rerank", lambda bad: {"query": "q", "documents": [bad]}, "documents"),
    ("/v1/ranking", lambda bad: {"query": {"text": "q"}, "passages": [{"text": bad}]}, "passages"),
    ("/v1/score", lambda bad: {"text_1": "q", "text_2": ["fine", bad]}, "text_2"),
    ("/v1/score", lambda bad: {"text_1": bad, "text_2": "fine"}, "text_1"),
]


def _post_raw(client, path: str, body: dict):
    # json.dumps escapes the surrogate as \\udXXX, exactly what a hostile client sends.
    return client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize("bad", LONE)
@pytest.mark.parametrize(("path", "make_body", "param"), CASES)
def test_should_refuse_lone_surrogates_with_400(tiny_client, path, make_body, param, bad):
    response = _post_raw(tiny_client, path, make_body(bad))
    body = assert_error(response, 400, r"not valid Unicode text: lone surrogate U\+D[89A-F][0-9A-F]{2}")
    assert body["param"] == param


def test_should_refuse_lone_surrogates_in_tei_shape_on_tei_routes(tiny_client):
    response = _post_raw(tiny_client, "/rerank", {"query": "q", "texts": ["ok", "\ud800"]})
    assert response.status_code == 400
    assert "texts[1]: not valid Unicode text" in response.json()["error"]


def test_should_render_errors_that_quote_invalid_text(tiny_client):
    # The 404 message quotes the model name the client sent.
    response = _post_raw(tiny_client, "/openai/v1/rerank", {"model": "m\ud800", "query": "q", "documents": ["d"]})
    body = assert_error(response, 404, r"not found")
    assert "\\ud800" in body["message"]  # quoted, escaped, rendered


def test_should_still_score_valid_text_beyond_the_basic_plane(tiny_client):
    response = tiny_client.post("/openai/v1/rerank", json={"query": "q 🙂", "documents": ["𝒜 document 😀", "x"]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/openai/v1/rerank", {"query": "q", "documents": [0] * 200_000}, "documents"),
        ("/rerank", {"query": "q", "texts": [0] * 200_000}, "texts"),
        ("/v1/ranking", {"query": {"text": "q"}, "passages": [0] * 200_000}, "passages"),
        ("/v1/score", {"text_1": "q", "text_2": [0] * 200_000}, "text_2"),
    ],
)
def test_should_refuse_an_oversized_list_before_validating_its_items(tiny_client, path, body, field):
    # 200,000 invalid items would make 400,000 validation errors (seconds of CPU on the event
    # loop); the count is checked first, so the message is about the count, not the items.
    response = tiny_client.post(path, json=body)
    assert response.status_code == 400
    text = response.text
    assert f"{field}: too many documents: 200000 (the limit is 1000, --max_documents)" in text
    assert "expected" not in text


def test_should_bound_ignored_list_fields_too(tiny_client):
    response = tiny_client.post("/v1/rerank", json={"query": "q", "documents": ["d"], "rank_fields": [0] * 100_000})
    assert_error(response, 400, r"rank_fields: List should have at most 64 items")
