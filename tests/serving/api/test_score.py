"""vLLM's score API: text_1 against text_2, 1:1, 1:N and N:N, matching the rerank scores."""

from __future__ import annotations

import pytest

from reranker.api.schemas import ScoreResponse
from tests.support.app import SEED_REQUEST, assert_error

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


@pytest.mark.parametrize("path", ["/openai/v1/score", "/v1/score"])
def test_should_score_one_to_many_like_rerank(tiny_client, path):
    body = tiny_client.post(path, json={"model": "reranker", "text_1": QUERY, "text_2": DOCS}).json()
    ScoreResponse.model_validate(body)
    assert body["object"] == "list" and body["id"].startswith("score-")
    assert [d["index"] for d in body["data"]] == [0, 1, 2, 3]
    reranked = tiny_client.post("/v1/rerank", json={"query": QUERY, "documents": DOCS}).json()["results"]
    by_index = {r["index"]: r["relevance_score"] for r in reranked}
    assert [d["score"] for d in body["data"]] == pytest.approx([by_index[i] for i in range(4)], abs=1e-6)
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] > 0


def test_should_score_one_to_one(tiny_client):
    body = tiny_client.post("/v1/score", json={"text_1": QUERY, "text_2": DOCS[0]}).json()
    assert len(body["data"]) == 1


def test_should_score_pairwise_n_to_n(tiny_client):
    pairwise = tiny_client.post("/v1/score", json={"text_1": [QUERY, "Germany"], "text_2": [DOCS[0], DOCS[1]]}).json()
    single = tiny_client.post("/v1/score", json={"text_1": "Germany", "text_2": DOCS[1]}).json()
    assert pairwise["data"][1]["score"] == pytest.approx(single["data"][0]["score"], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ({"text_1": ["a", "b"], "text_2": ["a", "b", "c"]}, r"text_1 has 2 items and text_2 has 3"),
        ({"text_1": [], "text_2": ["a"]}, r"must not be empty"),
        ({"text_1": "a"}, r"text_2: Field required"),
        ({"text_1": 3, "text_2": "a"}, r"text_1: invalid value, expected a string or a list of strings"),
    ],
)
def test_should_reject_bad_score_requests(tiny_client, body, pattern):
    assert_error(tiny_client.post("/v1/score", json=body), 400, pattern)


def test_should_answer_404_for_another_model(tiny_client):
    assert_error(tiny_client.post("/v1/score", json={"model": "x", "text_1": "a", "text_2": "b"}), 404, "not found")


@pytest.mark.parametrize(("left", "right"), [("data_1", "data_2"), ("queries", "documents"), ("queries", "items")])
def test_should_take_each_of_vllms_spellings_of_the_two_sides(tiny_client, left, right):
    """vLLM's score request (vllm/entrypoints/pooling/score/protocol.py) also names text_1 and
    text_2 data_1 and data_2, queries and documents, or queries and items: the same answer."""
    query, documents = SEED_REQUEST["query"], SEED_REQUEST["documents"]
    expected = tiny_client.post("/v1/score", json={"text_1": query, "text_2": documents}).json()["data"]
    response = tiny_client.post("/v1/score", json={left: query, right: documents})
    assert response.status_code == 200, response.text
    assert [d["score"] for d in response.json()["data"]] == pytest.approx([d["score"] for d in expected], abs=1e-6)
    n_to_n = tiny_client.post("/v1/score", json={left: [query, query], right: documents[:2]})
    assert len(n_to_n.json()["data"]) == 2


LONG_DOCUMENT = "paris is the capital and largest city of france " * 40  # over the tiny model's 128 tokens


@pytest.mark.parametrize("path", ["/v1/score", "/v1/rerank"])
def test_should_cut_each_pair_to_truncate_prompt_tokens_as_vllm_does(tiny_client, path):
    """vLLM's truncate_prompt_tokens: the whole pair (query, document, special tokens) cut to that
    many tokens, the document's end first; -1 the model's limit (128 for the tiny model)."""
    query, short = "capital of france", "paris"

    def tokens(value):
        sides = (
            {"text_1": query, "text_2": [LONG_DOCUMENT, short]}
            if path == "/v1/score"
            else {"query": query, "documents": [LONG_DOCUMENT, short]}
        )
        response = tiny_client.post(path, json={**sides, "truncate_prompt_tokens": value})
        assert response.status_code == 200, response.text
        return response.json()["usage"]["total_tokens"]

    short_pair = len(query.split()) + 1 + 3  # [CLS] query [SEP] paris [SEP]
    assert tokens(32) == 32 + short_pair  # the long pair cut to 32, the short one whole
    assert tokens(-1) == 128 + short_pair
    assert tokens(-1) == tokens(128)


@pytest.mark.parametrize("value", [0, 129, -2])
def test_should_refuse_truncate_prompt_tokens_outside_the_models_limit(tiny_client, value):
    body = {"text_1": "q", "text_2": ["d"], "truncate_prompt_tokens": value}
    assert_error(tiny_client.post("/v1/score", json=body), 400, r"^truncate_prompt_tokens: ")


def test_should_name_truncate_prompt_tokens_when_it_leaves_no_room(tiny_client):
    body = {"text_1": "capital of france and germany", "text_2": ["d"], "truncate_prompt_tokens": 4}
    assert_error(
        tiny_client.post("/v1/score", json=body), 400, r"no room for a document within truncate_prompt_tokens of 4"
    )
