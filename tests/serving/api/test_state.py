"""What the routes share (api/state.py): the model names the server answers to, the engine once
it has loaded (503 until then), readiness until the server drains, and the configured bounds it
reports for the alerts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from harness.metrics import metric, parse_metrics
from reranker.api.errors import APIError
from reranker.api.state import ServerState, loaded_engine
from reranker.app import create_app
from reranker.config import Settings
from reranker.engine.factory import start_engine
from reranker.engine.model_source import resolve_model
from reranker.metrics import Metrics
from tests.support.app import SEED_REQUEST, assert_error, running_app
from tests.support.fake_engine import FakeEngine

COHERE_V2_REQUEST = {
    "model": "reranker",
    "query": SEED_REQUEST["query"],
    "documents": [{"text": d} for d in SEED_REQUEST["documents"]],
}


def test_should_check_a_model_name_against_every_served_name():
    state = ServerState(Settings(model_name="reranker,rerank-v3.5"), Metrics())
    state.check_model_name("rerank-v3.5")
    state.check_model_name(None)  # a client that names no model
    with pytest.raises(APIError) as refused:
        state.check_model_name("bge", param="query.model")
    assert (refused.value.status, refused.value.param) == (404, "query.model")
    served = "'reranker' or 'rerank-v3.5'"
    assert refused.value.message == f"model 'bge' not found: this server serves {served} (--model_name)"


def test_should_give_the_engine_once_loaded_and_be_ready_until_it_drains():
    state = ServerState(Settings(), Metrics())
    with pytest.raises(APIError, match=r"^model 'reranker' is still loading$") as loading:
        loaded_engine(state)
    state.load_error = "weights are corrupt"
    with pytest.raises(APIError, match=r"^model 'reranker' failed to load: weights are corrupt$"):
        loaded_engine(state)
    assert loading.value.status == 503 and not state.ready
    state.engine = FakeEngine()
    assert loaded_engine(state) is state.engine and state.ready
    state.start_draining()
    assert not state.ready and loaded_engine(state) is state.engine  # scoring goes on while draining
    assert metric(parse_metrics(state.metrics.render().decode()), "reranker_draining") == 1


def test_should_answer_to_every_served_name_and_report_the_first(tiny_cross_encoder_dir):
    with running_app(
        model_id=str(tiny_cross_encoder_dir), model_name="reranker, rerank-v3.5,jina-reranker-v2-base-multilingual"
    ) as client:
        for name in ("reranker", "rerank-v3.5", "jina-reranker-v2-base-multilingual"):
            body = client.post("/v2/rerank", json={**COHERE_V2_REQUEST, "model": name}).json()
            assert body["model"] == "reranker", body
        assert client.get("/v1/models/rerank-v3.5").status_code == 200
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["reranker"]
        assert_error(
            client.post("/openai/v1/rerank", json={**SEED_REQUEST, "model": "bge"}),
            404,
            r"model 'bge' not found: this server serves 'reranker' or 'rerank-v3.5' or "
            r"'jina-reranker-v2-base-multilingual' \(--model_name\)",
        )


def test_should_report_the_configured_bounds_the_alerts_compare_with(tiny_cross_encoder_dir):
    # components/monitoring's latency and queue alerts divide by these, so that they follow the flags.
    settings = Settings(
        backend="torch", model_id=str(tiny_cross_encoder_dir), max_queued_pairs=777, request_timeout=42.5
    )

    async def load():
        return await start_engine(settings, resolve_model(settings))

    with TestClient(create_app(settings, load)) as client:
        text = client.get("/metrics").text
    samples = parse_metrics(text)
    assert metric(samples, "reranker_queue_pairs_limit") == 777
    assert metric(samples, "reranker_request_timeout_seconds") == 42.5
