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
