"""Every kind of bad input gets a 4xx with an OpenAI-style body whose message names the problem
(api/errors.py: one error shape, validation errors as 400 naming the field)."""

from __future__ import annotations

import pytest

from tests.support.app import SEED_REQUEST, assert_error, running_app

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


@pytest.fixture(scope="module")
def client(tiny_cross_encoder_dir):
    with running_app(model_id=str(tiny_cross_encoder_dir), max_documents=5) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({"documents": DOCS}, r"query: Field required"),
        ({"query": "", "documents": DOCS}, r"query: query must not be empty"),
        ({"query": "   ", "documents": DOCS}, r"query: query must not be empty"),
        ({"query": QUERY}, r"documents: Field required"),
        ({"query": QUERY, "documents": []}, r"documents: List should have at least 1 item"),
        ({"query": 42, "documents": DOCS}, r"query: Input should be a valid string"),
        ({"query": QUERY, "documents": "Paris"}, r"documents: Input should be a valid list"),
        (
            {"query": QUERY, "documents": [1]},
            r'documents\.0: invalid value, expected a string or an object \{"text": string\}',
        ),
        ({"query": QUERY, "documents": [{"txt": "x"}]}, r"documents\.0: invalid value"),
        ({"query": QUERY, "documents": DOCS, "top_n": 0}, r"top_n: Input should be greater than or equal to 1"),
        ({"query": QUERY, "documents": DOCS, "top_n": -3}, r"top_n: Input should be greater than or equal to 1"),
        ({"query": QUERY, "documents": DOCS, "top_n": "2"}, r"top_n: Input should be a valid integer"),
        (
            {"query": QUERY, "documents": DOCS, "return_documents": "no"},
            r"return_documents: Input should be a valid boolean",
        ),
        (
            {"query": QUERY, "documents": DOCS, "max_tokens_per_doc": 0},
            r"max_tokens_per_doc: Input should be greater than or equal to 1",
        ),
        ({"query": QUERY, "documents": ["d"] * 6}, r"too many documents: 6 \(the limit is 5, --max_documents\)"),
    ],
)
def test_should_answer_400_naming_the_problem(client, body, pattern):
    error = assert_error(client.post("/openai/v1/rerank", json=body), 400, pattern)
    assert error["type"] == "BadRequestError"


def test_should_answer_404_for_another_model_name(client):
    error = assert_error(
        client.post("/openai/v1/rerank", json={**SEED_REQUEST, "model": "bge-large"}),
        404,
        r"model 'bge-large' not found: this server serves 'reranker'",
    )
    assert error["param"] == "model"


def test_should_answer_400_for_malformed_json(client):
    response = client.post(
        "/openai/v1/rerank", content=b'{"query": "x", "documents": [', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, r"request body is not valid JSON")


def test_should_answer_400_for_a_body_that_is_not_an_object(client):
    assert_error(client.post("/openai/v1/rerank", json=["x"]), 400, r"must be a JSON object")


def test_should_answer_400_without_json_content_type(client):
    response = client.post(
        "/openai/v1/rerank", content=b'{"query": "x", "documents": ["a"]}', headers={"content-type": "text/plain"}
    )
    assert_error(response, 400, r"Content-Type: application/json")


def test_should_answer_400_for_an_empty_body(client):
    response = client.post("/openai/v1/rerank", content=b"", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_should_answer_405_and_404_in_the_same_shape(client):
    assert_error(client.get("/openai/v1/rerank"), 405, r"Method Not Allowed")
    assert_error(client.get("/no/such/route"), 404, r"Not Found")


def test_should_keep_serving_after_bad_input(client):
    client.post("/openai/v1/rerank", json={"query": ""})
    assert client.post("/openai/v1/rerank", json=SEED_REQUEST).status_code == 200
