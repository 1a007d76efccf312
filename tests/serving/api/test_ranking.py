"""The rerank contract of the seed, on every rerank path, with both kinds of model."""

from __future__ import annotations

import copy
import re

import pytest

from reranker.api.schemas import RerankResponse
from tests.support.app import SEED_REQUEST, assert_error, running_app

# The seed's shape exactly; /rerank (Infinity) answers a superset of it (object, created,
# usage.prompt_tokens): seed clients calling it keep working.
SEED_SHAPED_PATHS = {"/openai/v1/rerank": set(), "/rerank": {"object", "created"}}
RERANK_PATHS = ("/openai/v1/rerank", "/v1/rerank", "/v2/rerank", "/rerank", "/v1/ranking")


@pytest.mark.parametrize("path", SEED_SHAPED_PATHS)
def test_should_answer_the_seed_request_in_the_seed_shape(minilm_client, path):
    response = minilm_client.post(path, json=SEED_REQUEST)
    assert response.status_code == 200, response.text
    body = response.json()
    RerankResponse.model_validate(body)
    assert set(body) == {"id", "model", "usage", "results"} | SEED_SHAPED_PATHS[path]
    assert re.fullmatch(r"rerank-[0-9a-f-]{36}", body["id"])
    assert body["model"] == "reranker"
    assert len(body["results"]) == 2
    first = body["results"][0]
    assert set(first) == {"index", "document", "relevance_score"}
    assert first["index"] == 0
    assert first["document"] == SEED_REQUEST["documents"][0]
    assert body["usage"]["total_tokens"] > 0


def test_should_count_real_tokenizer_tokens(minilm_client, minilm_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_dir)
    texts = [SEED_REQUEST["query"], *SEED_REQUEST["documents"]]
    expected = sum(len(tokenizer(t)["input_ids"]) for t in texts)  # query embedded once
    body = minilm_client.post("/openai/v1/rerank", json=SEED_REQUEST).json()
    assert body["usage"]["total_tokens"] == expected


def test_should_sort_by_score_and_return_every_document_without_top_n(tiny_client):
    request = {k: v for k, v in SEED_REQUEST.items() if k != "top_n"}
    results = tiny_client.post("/openai/v1/rerank", json=request).json()["results"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)  # sigmoid by default
    for result in results:
        assert result["document"] == SEED_REQUEST["documents"][result["index"]]


def test_should_cut_to_top_n_and_accept_top_n_above_the_document_count(tiny_client):
    full = tiny_client.post("/openai/v1/rerank", json={**SEED_REQUEST, "top_n": None}).json()["results"]
    top1 = tiny_client.post("/openai/v1/rerank", json={**SEED_REQUEST, "top_n": 1}).json()["results"]
    top9 = tiny_client.post("/openai/v1/rerank", json={**SEED_REQUEST, "top_n": 9}).json()["results"]
    assert top1 == full[:1]
    assert top9 == full


def test_should_break_ties_by_index(tiny_client):
    request = {"query": "capital", "documents": ["same text", "other", "same text", "same text"]}
    results = tiny_client.post("/openai/v1/rerank", json=request).json()["results"]
    same = [r["index"] for r in results if r["index"] in (0, 2, 3)]
    assert same == [0, 2, 3]


def test_should_omit_documents_when_return_documents_is_false(tiny_client):
    body = tiny_client.post("/openai/v1/rerank", json={**SEED_REQUEST, "return_documents": False}).json()
    assert all(set(r) == {"index", "relevance_score"} for r in body["results"])


def test_should_accept_text_objects_as_documents(tiny_client):
    as_strings = tiny_client.post("/openai/v1/rerank", json=SEED_REQUEST).json()["results"]
    objects = {**SEED_REQUEST, "documents": [{"text": d} for d in SEED_REQUEST["documents"]]}
    as_objects = tiny_client.post("/openai/v1/rerank", json=objects).json()["results"]
    assert [(r["index"], r["relevance_score"]) for r in as_objects] == [
        (r["index"], r["relevance_score"]) for r in as_strings
    ]


def test_should_return_raw_logits_on_request(tiny_client):
    sigmoid = tiny_client.post("/openai/v1/rerank", json=SEED_REQUEST).json()["results"]
    raw = tiny_client.post("/openai/v1/rerank", json={**SEED_REQUEST, "use_activation": False}).json()["results"]
    import math

    by_index = {r["index"]: r["relevance_score"] for r in raw}
    for result in sigmoid:
        assert result["relevance_score"] == pytest.approx(1 / (1 + math.exp(-by_index[result["index"]])), abs=1e-6)
    assert all(abs(r["relevance_score"] - by_index[r["index"]]) > 1e-6 for r in sigmoid)


def test_should_truncate_documents_to_max_tokens_per_doc(tiny_client):
    long_doc = " ".join(SEED_REQUEST["documents"] * 3)
    full = tiny_client.post("/openai/v1/rerank", json={"query": "capital", "documents": [long_doc]}).json()
    cut = tiny_client.post(
        "/openai/v1/rerank", json={"query": "capital", "documents": [long_doc], "max_tokens_per_doc": 5}
    ).json()
    assert cut["usage"]["total_tokens"] < full["usage"]["total_tokens"]
    assert cut["results"][0]["document"] == long_doc  # the client's text comes back whole


def test_should_truncate_documents_longer_than_the_model_limit_by_default(tiny_client):
    huge = "paris is the capital of france " * 200  # far over the tiny model's 128 tokens
    body = tiny_client.post("/openai/v1/rerank", json={"query": "capital", "documents": [huge, "berlin"]}).json()
    assert body["usage"]["total_tokens"] <= 128 + 20
    assert len(body["results"]) == 2


def test_should_reject_long_documents_when_the_server_says_so(tiny_cross_encoder_dir):

    huge = "paris is the capital of france " * 200
    with running_app(model_id=str(tiny_cross_encoder_dir), truncation="reject") as client:
        response = client.post("/openai/v1/rerank", json={"query": "capital", "documents": ["short", huge]})
        assert_error(response, 400, r"document 1 is too long: \d+ tokens with the query, the model's limit is 128")


def test_should_answer_documents_as_text_objects_when_configured(tiny_cross_encoder_dir):

    with running_app(model_id=str(tiny_cross_encoder_dir), document_format="object") as client:
        results = client.post("/openai/v1/rerank", json=SEED_REQUEST).json()["results"]
        assert results[0]["document"] == {"text": SEED_REQUEST["documents"][results[0]["index"]]}


def test_should_not_change_the_request(tiny_client):
    request = copy.deepcopy(SEED_REQUEST)
    tiny_client.post("/openai/v1/rerank", json=request)
    assert request == SEED_REQUEST


def test_should_serve_openapi_and_docs(tiny_client):
    spec = tiny_client.get("/openapi.json").json()
    for path in RERANK_PATHS + ("/openai/v1/score", "/v1/score", "/v2/health/ready"):
        assert path in spec["paths"]
    assert tiny_client.get("/docs").status_code == 200
