"""Hugging Face TEI's route (api/dialects/tei.py): /rerank with ``texts`` answers a list best first,
follows TEI's flags, fails in TEI's error shape, and /info describes the model as TEI does."""

from __future__ import annotations

import pytest

from tests.serving.api.dialects.bodies import DOCUMENTS, LONG, QUERY, REQUESTS, answer
from tests.support.app import assert_error


def test_should_answer_tei_with_a_list_best_first(tiny_client):
    body = answer(tiny_client, "tei")
    assert isinstance(body, list)
    assert all(set(r) == {"index", "score", "text"} and r["text"] == DOCUMENTS[r["index"]] for r in body)
    scores = [r["score"] for r in body]
    assert scores == sorted(scores, reverse=True)


def test_should_leave_texts_out_unless_tei_clients_ask(tiny_client):
    tei = tiny_client.post("/rerank", json={"query": QUERY, "texts": DOCUMENTS})
    assert all(set(r) == {"index", "score"} for r in tei.json())


def test_should_give_tei_raw_scores_on_request(tiny_client):
    raw = tiny_client.post("/rerank", json={"query": QUERY, "texts": DOCUMENTS, "raw_scores": True}).json()
    seed = tiny_client.post(
        "/openai/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS, "use_activation": False}
    ).json()
    assert {r["index"]: r["score"] for r in raw} == pytest.approx(
        {r["index"]: r["relevance_score"] for r in seed["results"]}
    )


@pytest.mark.parametrize(
    ("request_body", "refused"),
    [
        ({"query": QUERY, "texts": [LONG], "truncate": False}, True),
        ({"query": QUERY, "texts": [LONG], "truncate": True}, False),
    ],
)
def test_should_follow_teis_truncate_flag(tiny_client, request_body, refused):
    response = tiny_client.post("/rerank", json=request_body)
    assert response.status_code == (400 if refused else 200), response.text
    if refused:
        assert "token" in response.text


def test_should_fail_tei_requests_in_teis_error_shape(tiny_client):
    response = tiny_client.post("/rerank", json={"query": QUERY, "texts": []})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "error_type", "detail"}
    assert body["error_type"] == "Validation"
    assert body["error"] == body["detail"] == "texts: List should have at least 1 item after validation, not 0"


def test_should_say_tei_clients_are_early_in_teis_shape(tiny_cross_encoder_dir):
    import asyncio

    from fastapi.testclient import TestClient

    from reranker.app import create_app
    from reranker.config import Settings

    async def never_loads():
        await asyncio.sleep(3600)

    with TestClient(create_app(Settings(model_id=str(tiny_cross_encoder_dir)), never_loads)) as client:
        response = client.post("/rerank", json={"query": QUERY, "texts": DOCUMENTS})
        assert response.status_code == 503
        assert response.json()["error_type"] == "Unhealthy"
        assert "still loading" in response.json()["error"]
        assert_error(client.post("/v1/rerank", json=REQUESTS["cohere-v1"][1]), 503, "still loading")


def test_should_describe_the_model_on_teis_info_route(tiny_client, minilm_client):
    info = tiny_client.get("/info").json()
    # TEI's required fields (its openapi.json, Info), each of its type.
    required = {
        "model_id": str,
        "served_model_name": str,
        "model_dtype": str,
        "version": str,
        "model_type": dict,
        "max_concurrent_requests": int,
        "max_input_length": int,
        "max_batch_tokens": int,
        "max_client_batch_size": int,
        "tokenization_workers": int,
        "auto_truncate": bool,
    }
    assert {k: type(info[k]) for k in required} == required
    assert info["model_id"] == "reranker" and "reranker" in info["model_type"]
    assert info["max_input_length"] > 0 and info["max_client_batch_size"] == 1000
    # The engine's effective budget: the CPU default for packed batches (the tiny model is a BERT).
    assert info["max_batch_tokens"] == 8192
    from reranker.engine.precision import cpu_bf16_support

    # --dtype auto as the engine resolved it on this CPU, not the flag's "auto".
    assert info["model_dtype"] == ("bfloat16" if cpu_bf16_support().native else "float32")
    assert "embedding" in minilm_client.get("/info").json()["model_type"]
