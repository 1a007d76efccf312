"""The request bodies (api/schemas.py) accept what the server means and no more: a query with
something in it (the not-blank pattern spelled as Python strips whitespace), counts as whole
numbers, score lists of at least one item paired by vLLM's rules, and document lists bounded by
--max_documents before their items are validated."""

from __future__ import annotations

import re
import sys

import pytest
from pydantic import ValidationError

from reranker.api.schemas import MAX_DOCUMENTS, NOT_BLANK_PATTERN, RerankRequest, ScoreRequest
from tests.support.app import SEED_REQUEST, assert_error

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


def test_should_spell_not_blank_as_python_strips_whitespace():
    """The pattern and the server's check agree on every code point."""
    pattern = re.compile(NOT_BLANK_PATTERN)
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        assert (pattern.search(char) is None) == char.isspace(), hex(code)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/openai/v1/rerank", {"query": " \t\u3000", "documents": DOCS}),
        ("/v1/rerank", {"query": "\x1c", "documents": DOCS}),
        ("/v2/rerank", {"query": "\u2028", "documents": DOCS}),
        ("/rerank", {"query": "\n", "documents": DOCS}),
        ("/rerank", {"query": "\x85", "texts": DOCS}),
        ("/v1/ranking", {"query": {"text": "\xa0"}, "passages": [{"text": d} for d in DOCS]}),
    ],
)
def test_should_refuse_what_the_pattern_refuses(tiny_client, path, body):
    response = tiny_client.post(path, json=body)
    assert response.status_code == 400 and "must not be empty" in response.text, response.text


def test_should_accept_a_query_with_a_zero_width_no_break_space(tiny_client):
    # U+FEFF is whitespace to ECMA-262's \s but not to Python: the explicit pattern accepts it, as the server does.
    assert re.search(NOT_BLANK_PATTERN, "\ufeff")
    assert tiny_client.post("/v1/rerank", json={"query": "\ufeff", "documents": DOCS}).status_code == 200


@pytest.mark.parametrize("field", ["text_1", "text_2"])
def test_should_refuse_an_empty_score_list_naming_the_field(tiny_client, field):
    body = {"text_1": QUERY, "text_2": DOCS, field: []}
    error = assert_error(tiny_client.post("/v1/score", json=body), 400, rf"^{field}: must not be empty")
    assert error["param"] == field


INTEGER_FIELDS = [
    ("/openai/v1/rerank", {"query": QUERY, "documents": DOCS}, "top_n"),
    ("/openai/v1/rerank", {"query": QUERY, "documents": DOCS}, "max_tokens_per_doc"),
    ("/v1/rerank", {"query": QUERY, "documents": DOCS}, "top_n"),
    ("/v1/rerank", {"query": QUERY, "documents": DOCS}, "max_chunks_per_doc"),
    ("/v2/rerank", {"query": QUERY, "documents": DOCS}, "top_n"),
    ("/rerank", {"query": QUERY, "documents": DOCS}, "top_n"),
    ("/v1/score", {"text_1": QUERY, "text_2": DOCS}, "truncate_prompt_tokens"),
]


@pytest.mark.parametrize(("path", "body", "field"), INTEGER_FIELDS)
def test_should_accept_a_whole_number_float_for_an_integer(tiny_client, path, body, field):
    value = 64 if field == "truncate_prompt_tokens" else 2  # a whole pair's tokens: room for the query
    as_float = tiny_client.post(path, json={**body, field: float(value)})
    assert as_float.status_code == 200, as_float.text
    assert as_float.json() | {"id": None, "created": None} == (
        tiny_client.post(path, json={**body, field: value}).json() | {"id": None, "created": None}
    )


@pytest.mark.parametrize(("path", "body", "field"), INTEGER_FIELDS)
@pytest.mark.parametrize("value", [True, False, "2", 2.5, 0.0])
def test_should_refuse_booleans_strings_and_fractions_for_an_integer(tiny_client, path, body, field, value):
    error = assert_error(tiny_client.post(path, json={**body, field: value}), 400, rf"^{field}: ")
    assert error["param"] == field


@pytest.mark.parametrize(
    ("text_1", "text_2", "pairs"),
    [
        ("q", "d", [("q", "d")]),
        ("q", ["a", "b"], [("q", "a"), ("q", "b")]),
        (["q"], ["a", "b"], [("q", "a"), ("q", "b")]),
        (["q", "r"], ["a", "b"], [("q", "a"), ("r", "b")]),
    ],
)
def test_should_pair_score_texts_one_to_one_one_to_many_or_n_to_n(text_1, text_2, pairs):
    assert ScoreRequest(text_1=text_1, text_2=text_2).pairs() == pairs


def test_should_refuse_n_to_n_score_lists_of_different_lengths():
    with pytest.raises(ValueError, match=r"text_1 has 2 items and text_2 has 3: N:N scoring needs equal lengths"):
        ScoreRequest(text_1=["q", "r"], text_2=["a", "b", "c"]).pairs()


def test_should_measure_documents_against_max_documents_before_validating_them():
    token = MAX_DOCUMENTS.set(2)
    try:
        with pytest.raises(ValidationError) as refused:
            RerankRequest.model_validate({"query": "q", "documents": [1, 2, 3]})  # three invalid items
        RerankRequest.model_validate({"query": "q", "documents": ["a", "b"]})
    finally:
        MAX_DOCUMENTS.reset(token)
    [error] = refused.value.errors()
    assert "too many documents: 3 (the limit is 2, --max_documents)" in error["msg"]
    RerankRequest.model_validate({"query": "q", "documents": ["a", "b", "c"]})  # no limit outside a request
