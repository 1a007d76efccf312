"""Cohere's routes, which Jina's and vLLM's clients call too (api/dialects/cohere.py): /v1/rerank and
/v2/rerank answer with text objects and their API version, and leave documents out on request."""

from __future__ import annotations

import pytest

from tests.serving.api.dialects.bodies import DOCUMENTS, REQUESTS, answer


@pytest.mark.parametrize(("dialect", "version"), [("cohere-v1", "1"), ("cohere-v2", "2")])
def test_should_answer_cohere_jina_and_vllm_with_text_objects(tiny_client, dialect, version):
    body = answer(tiny_client, dialect)
    assert set(body) == {"id", "model", "usage", "results", "meta"}
    assert body["meta"] == {"api_version": {"version": version}}
    assert body["model"] == "reranker" and body["usage"]["total_tokens"] > 0
    for result in body["results"]:
        assert set(result) == {"index", "relevance_score", "document"}
        assert result["document"] == {"text": DOCUMENTS[result["index"]]}


def test_should_leave_documents_out_when_cohere_asks(tiny_client):
    cohere = tiny_client.post("/v2/rerank", json={**REQUESTS["cohere-v2"][1], "return_documents": False, "top_n": 2})
    assert [set(r) for r in cohere.json()["results"]] == [{"index", "relevance_score"}] * 2


# --- max_chunks_per_doc (Cohere v1): long documents chunked, each scored by its best chunk ---------

QUERY = "capital of france"
# Each of these words is one token of the tiny model's tokenizer (limit 128 tokens a pair):
# 300 tokens of document are three windows of what the query leaves.
LONG = " ".join(["paris", "is", "the", "capital", "and", "largest", "city", "of", "france"] * 33)[:1500]
SHORT = "berlin is the capital of germany"


def _cohere(client, **fields):
    body = {"query": QUERY, "documents": [LONG, SHORT], "return_documents": False, **fields}
    response = client.post("/v1/rerank", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    return {r["index"]: r["relevance_score"] for r in answer["results"]}, answer["usage"]["total_tokens"]


@pytest.fixture(scope="module")
def chunking_client(tiny_cross_encoder_dir):
    from tests.support.app import running_app

    with running_app(model_id=str(tiny_cross_encoder_dir), truncation="chunk") as client:
        yield client


def test_should_chunk_long_documents_when_cohere_asks_whatever_the_servers_policy(tiny_client, chunking_client):
    """max_chunks_per_doc on a server that truncates: the same scores and tokens as a server that
    chunks (--truncation chunk), where it leaves room for every chunk; one chunk is the truncated
    document; a document within the limit is one chunk either way."""
    truncated, truncated_tokens = _cohere(tiny_client)
    chunked, chunked_tokens = _cohere(chunking_client)
    assert chunked_tokens > 2 * truncated_tokens - 40  # the long document read in several windows
    asked, asked_tokens = _cohere(tiny_client, max_chunks_per_doc=100)
    # Equal within float32 noise: the same windows may be batched with different neighbours.
    assert asked_tokens == chunked_tokens and asked == pytest.approx(chunked, abs=1e-6)
    one, one_tokens = _cohere(tiny_client, max_chunks_per_doc=1)
    assert one_tokens == truncated_tokens and one == pytest.approx(truncated, abs=1e-6)
    assert asked[1] == pytest.approx(one[1], abs=1e-6)  # the short document: one window whatever the limit
    assert asked[0] >= one[0] - 1e-6  # the best of all windows, the first among them (batched apart)


def test_should_read_no_more_than_max_chunks_per_doc_windows(tiny_client, chunking_client):
    _, one_tokens = _cohere(tiny_client, max_chunks_per_doc=1)
    _, two_tokens = _cohere(tiny_client, max_chunks_per_doc=2)
    _, all_tokens = _cohere(chunking_client)
    short_tokens = len(QUERY.split()) + len(SHORT.split()) + 3
    window = one_tokens - short_tokens
    assert two_tokens - short_tokens == 2 * window
    assert all_tokens > two_tokens


def test_should_refuse_max_chunks_per_doc_for_an_embedding_model(minilm_client):
    body = {"query": QUERY, "documents": [SHORT], "max_chunks_per_doc": 2}
    from tests.support.app import assert_error

    assert_error(
        minilm_client.post("/v1/rerank", json=body), 400, r"^max_chunks_per_doc: the served model is an embedding"
    )


# --- rank_fields (Cohere v1): object documents ranked on the fields named, returned as sent ------

OBJECTS = [
    {"title": "Paris", "text": "paris is the capital of france", "id": 7, "tags": ["city"]},
    {"title": "Germany", "text": "berlin is the capital of germany", "id": 8, "tags": []},
    {"title": "Capital of France", "text": "a city on the seine", "id": 9, "tags": ["river"]},
]


def _scores(client, documents, **fields):
    response = client.post("/v1/rerank", json={"query": QUERY, "documents": documents, **fields})
    assert response.status_code == 200, response.text
    return response.json(), {r["index"]: r["relevance_score"] for r in response.json()["results"]}


def test_should_rank_object_documents_on_the_fields_rank_fields_names_in_order(tiny_client):
    _, by_fields = _scores(tiny_client, OBJECTS, rank_fields=["title", "text"])
    as_text = [f"title: {d['title']}\ntext: {d['text']}" for d in OBJECTS]
    _, by_text = _scores(tiny_client, as_text)
    assert by_fields == pytest.approx(by_text, abs=1e-6)
    _, by_title = _scores(tiny_client, OBJECTS, rank_fields=["title"])  # one field: its value alone
    _, titles = _scores(tiny_client, [d["title"] for d in OBJECTS])
    assert by_title == pytest.approx(titles, abs=1e-6)
    _, default = _scores(tiny_client, OBJECTS)  # no rank_fields: "text"
    _, texts = _scores(tiny_client, [d["text"] for d in OBJECTS])
    assert default == pytest.approx(texts, abs=1e-6)
    assert by_fields != pytest.approx(default, abs=1e-6)  # the fields changed what was ranked


def test_should_return_object_documents_as_sent_and_strings_as_text_objects(tiny_client):
    answer, _ = _scores(tiny_client, [OBJECTS[0], "plain text"], rank_fields=["text"])
    returned = {r["index"]: r["document"] for r in answer["results"]}
    assert returned == {0: OBJECTS[0], 1: {"text": "plain text"}}


def test_should_refuse_a_document_without_a_ranked_field(tiny_client):
    from tests.support.app import assert_error

    body = {"query": QUERY, "documents": [OBJECTS[0], "a string has only text"], "rank_fields": ["title"]}
    error = assert_error(tiny_client.post("/v1/rerank", json=body), 400, r"documents\[1\] has no string field 'title'")
    assert error["param"] == "rank_fields"
    body = {"query": QUERY, "documents": [{"title": "no text"}]}
    assert_error(tiny_client.post("/v1/rerank", json=body), 400, r"documents\[0\] has no string field 'text'")
    body = {"query": QUERY, "documents": [OBJECTS[0]], "rank_fields": ["id"]}  # a number is not text
    assert_error(tiny_client.post("/v1/rerank", json=body), 400, r"no string field 'id'")
