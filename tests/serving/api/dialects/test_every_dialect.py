"""Every rerank dialect answers in its own clients' shape, ranks alike, and fails in a shape its
clients can show (api/dialects/)."""

from __future__ import annotations

import pytest

from tests.support.app import SEED_REQUEST, assert_error, running_app

QUERY, DOCUMENTS = SEED_REQUEST["query"], SEED_REQUEST["documents"]
LONG = "word " * 2000  # far past any model's limit

# One request per dialect, each asking for every document with its text (where it can).
REQUESTS = {
    "seed": ("/openai/v1/rerank", {"model": "reranker", "query": QUERY, "documents": DOCUMENTS}),
    "cohere-v1": (
        "/v1/rerank",
        {"model": "reranker", "query": QUERY, "documents": DOCUMENTS, "return_documents": True},
    ),
    "cohere-v2": ("/v2/rerank", {"model": "reranker", "query": QUERY, "documents": [{"text": d} for d in DOCUMENTS]}),
    "tei": ("/rerank", {"query": QUERY, "texts": DOCUMENTS, "return_text": True}),
    "infinity": ("/rerank", {"model": "reranker", "query": QUERY, "documents": DOCUMENTS, "return_documents": True}),
    "nim": (
        "/v1/ranking",
        {"model": "reranker", "query": {"text": QUERY}, "passages": [{"text": d} for d in DOCUMENTS]},
    ),
}


def order(dialect: str, body) -> list[int]:
    if dialect == "tei":
        return [r["index"] for r in body]
    if dialect == "nim":
        return [r["index"] for r in body["rankings"]]
    return [r["index"] for r in body["results"]]


@pytest.fixture(scope="module")
def answers(tiny_client):
    out = {}
    for dialect, (path, request) in REQUESTS.items():
        response = tiny_client.post(path, json=request)
        assert response.status_code == 200, (dialect, response.text)
        out[dialect] = response.json()
    return out


def test_should_answer_the_seed_route_in_the_seed_shape(answers):
    body = answers["seed"]
    assert set(body) == {"id", "model", "usage", "results"}
    assert all(
        set(r) == {"index", "document", "relevance_score"} and isinstance(r["document"], str) for r in body["results"]
    )


@pytest.mark.parametrize(("dialect", "version"), [("cohere-v1", "1"), ("cohere-v2", "2")])
def test_should_answer_cohere_jina_and_vllm_with_text_objects(answers, dialect, version):
    body = answers[dialect]
    assert set(body) == {"id", "model", "usage", "results", "meta"}
    assert body["meta"] == {"api_version": {"version": version}}
    assert body["model"] == "reranker" and body["usage"]["total_tokens"] > 0
    for result in body["results"]:
        assert set(result) == {"index", "relevance_score", "document"}
        assert result["document"] == {"text": DOCUMENTS[result["index"]]}


def test_should_answer_tei_with_a_list_best_first(answers):
    body = answers["tei"]
    assert isinstance(body, list)
    assert all(set(r) == {"index", "score", "text"} and r["text"] == DOCUMENTS[r["index"]] for r in body)
    scores = [r["score"] for r in body]
    assert scores == sorted(scores, reverse=True)


def test_should_answer_infinity_with_prompt_tokens(answers):
    body = answers["infinity"]
    assert set(body) == {"object", "id", "created", "model", "usage", "results"}
    assert body["object"] == "rerank"
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert all(r["document"] == DOCUMENTS[r["index"]] for r in body["results"])


def test_should_answer_nim_with_raw_logits(answers, tiny_client):
    body = answers["nim"]
    assert set(body) == {"rankings"}
    assert all(set(r) == {"index", "logit"} for r in body["rankings"])
    raw = tiny_client.post("/openai/v1/rerank", json={**REQUESTS["seed"][1], "use_activation": False}).json()
    assert {r["index"]: r["relevance_score"] for r in raw["results"]} == pytest.approx(
        {r["index"]: r["logit"] for r in body["rankings"]}
    )


def test_should_rank_alike_in_every_dialect(answers):
    orders = {dialect: order(dialect, body) for dialect, body in answers.items()}
    assert len({tuple(o) for o in orders.values()}) == 1, orders


def test_should_leave_documents_out_when_a_dialect_asks(tiny_client):
    cohere = tiny_client.post("/v2/rerank", json={**REQUESTS["cohere-v2"][1], "return_documents": False, "top_n": 2})
    assert [set(r) for r in cohere.json()["results"]] == [{"index", "relevance_score"}] * 2
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
    ("path", "request_body", "refused"),
    [
        ("/rerank", {"query": QUERY, "texts": [LONG], "truncate": False}, True),
        ("/rerank", {"query": QUERY, "texts": [LONG], "truncate": True}, False),
        ("/v1/ranking", {"query": {"text": QUERY}, "passages": [{"text": LONG}], "truncate": "NONE"}, True),
        ("/v1/ranking", {"query": {"text": QUERY}, "passages": [{"text": LONG}], "truncate": "END"}, False),
        ("/v1/ranking", {"query": {"text": QUERY}, "passages": [{"text": LONG}]}, False),  # the server's default
    ],
)
def test_should_follow_each_dialects_truncate_flag(tiny_client, path, request_body, refused):
    response = tiny_client.post(path, json=request_body)
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


@pytest.mark.parametrize(
    ("path", "request_body", "message"),
    [
        ("/v1/rerank", {"query": QUERY, "documents": "not a list"}, r"documents: Input should be a valid list"),
        (
            "/v2/rerank",
            {"query": QUERY, "documents": DOCUMENTS, "model": "rerank-v3.5"},
            r"model 'rerank-v3.5' not found",
        ),
        (
            "/rerank",
            {"query": QUERY, "documents": DOCUMENTS, "top_n": 0},
            r"top_n: Input should be greater than or equal to 1",
        ),
        ("/rerank", {"query": QUERY}, r"documents: Field required"),
        ("/v1/ranking", {"query": {"text": ""}, "passages": [{"text": "a"}]}, r"query: query.text must not be empty"),
    ],
)
def test_should_carry_our_message_in_error_and_detail_on_every_other_dialect(tiny_client, path, request_body, message):
    assert_error(tiny_client.post(path, json=request_body), 400 if "not found" not in message else 404, message)


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


def test_should_answer_to_every_served_name_and_report_the_first(tiny_cross_encoder_dir):
    with running_app(
        model_id=str(tiny_cross_encoder_dir), model_name="reranker, rerank-v3.5,jina-reranker-v2-base-multilingual"
    ) as client:
        for name in ("reranker", "rerank-v3.5", "jina-reranker-v2-base-multilingual"):
            body = client.post("/v2/rerank", json={**REQUESTS["cohere-v2"][1], "model": name}).json()
            assert body["model"] == "reranker", body
        assert client.get("/v1/models/rerank-v3.5").status_code == 200
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["reranker"]
        assert_error(
            client.post("/openai/v1/rerank", json={**SEED_REQUEST, "model": "bge"}),
            404,
            r"model 'bge' not found: this server serves 'reranker' or 'rerank-v3.5' or "
            r"'jina-reranker-v2-base-multilingual' \(--model_name\)",
        )


@pytest.mark.parametrize(("names", "problem"), [("reranker,,x", "must not be empty"), ("a,b,a", "repeat")])
def test_should_refuse_empty_or_repeated_served_names(names, problem):
    from pydantic import ValidationError

    from reranker.config import Settings

    with pytest.raises(ValidationError, match=problem):
        Settings(model_name=names)
