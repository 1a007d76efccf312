"""Readiness (503 until the model loads), KServe model routes, the model list, and /metrics."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from reranker.engine.factory import start_engine
from reranker.engine.model_source import resolve_model
from tests.support.app import SEED_REQUEST, assert_error, wait_ready


@pytest.fixture
def gated_app(tiny_cross_encoder_dir):
    """An app whose model load waits until the test opens the gate."""
    settings = Settings(backend="torch", model_id=str(tiny_cross_encoder_dir))
    model = resolve_model(settings)
    gate = threading.Event()

    async def load():
        await asyncio.to_thread(gate.wait)
        return await start_engine(settings, model)

    return create_app(settings, load), gate


def test_should_be_live_but_not_ready_before_the_model_loads(gated_app):
    app, gate = gated_app
    with TestClient(app) as client:
        assert client.get("/v2/health/live").json() == {"live": True}
        assert_error(client.get("/v2/health/ready"), 503, r"model 'reranker' is still loading")
        assert client.get("/v1/models/reranker").status_code == 503
        assert client.get("/v1/models/reranker").json() == {"name": "reranker", "ready": False}
        assert client.get("/v2/models/reranker/ready").status_code == 503
        assert_error(client.post("/openai/v1/rerank", json=SEED_REQUEST), 503, r"still loading")
        assert client.get("/openai/v1/models").json()["data"] == []
        gate.set()
        wait_ready(client)
        assert client.get("/v2/health/ready").json() == {"ready": True}
        assert client.get("/v1/models/reranker").json() == {"name": "reranker", "ready": True}
        assert client.get("/v2/models/reranker/ready").json() == {"name": "reranker", "ready": True}
        assert client.post("/openai/v1/rerank", json=SEED_REQUEST).status_code == 200


def test_should_report_a_failed_load_and_call_back(tiny_cross_encoder_dir):
    settings = Settings(backend="torch", model_id=str(tiny_cross_encoder_dir))
    failures = []

    async def broken():
        raise RuntimeError("weights are corrupt\nsecond line")

    with TestClient(create_app(settings, broken, on_load_failure=failures.append)) as client:
        for _ in range(100):
            if failures:
                break
            time.sleep(0.01)
        assert failures == ["weights are corrupt"]
        assert_error(client.get("/v2/health/ready"), 503, r"failed to load: weights are corrupt")


def test_should_answer_404_for_unknown_model_routes(tiny_client):
    assert_error(tiny_client.get("/v1/models/other"), 404, r"model 'other' not found")
    assert_error(tiny_client.get("/v2/models/other/ready"), 404, r"model 'other' not found")


@pytest.mark.parametrize("path", ["/openai/v1/models", "/v1/models"])
def test_should_list_the_served_model_openai_style(tiny_client, path, tiny_cross_encoder_dir):
    body = tiny_client.get(path).json()
    assert body["object"] == "list"
    [card] = body["data"]
    assert card["id"] == "reranker" and card["object"] == "model"
    assert card["max_model_len"] == 128


def _metric(text: str, name: str, **labels) -> float:
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = rf"^{name}{{{selector}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def test_should_count_requests_documents_tokens_and_batches(tiny_client):
    before = tiny_client.get("/metrics").text
    body = tiny_client.post("/openai/v1/rerank", json=SEED_REQUEST).json()
    tiny_client.post("/openai/v1/rerank", json={"query": ""})
    after = tiny_client.get("/metrics").text

    def delta(name, **labels):
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    assert delta("reranker_requests_total", method="POST", route="/openai/v1/rerank", status="200") == 1
    assert delta("reranker_requests_total", method="POST", route="/openai/v1/rerank", status="400") == 1
    assert delta("reranker_request_duration_seconds_count", route="/openai/v1/rerank") == 2
    assert delta("reranker_documents_scored_total") == 4
    assert delta("reranker_tokens_total") == body["usage"]["total_tokens"]
    assert delta("reranker_batch_size_count") >= 1
    assert delta("reranker_batch_size_sum") == 4
    assert "reranker_requests_in_flight" in after


def test_should_label_unknown_paths_as_unmatched(tiny_client):
    tiny_client.get("/random/path/123")
    text = tiny_client.get("/metrics").text
    assert "/random/path/123" not in text
    assert _metric(text, "reranker_requests_total", method="GET", route="unmatched", status="404") >= 1


def test_should_report_the_configured_bounds_the_alerts_compare_with(tiny_cross_encoder_dir):
    # components/monitoring's latency and queue alerts divide by these, so that they follow the flags.
    settings = Settings(
        backend="torch", model_id=str(tiny_cross_encoder_dir), max_queued_pairs=777, request_timeout=42.5
    )

    async def load():
        return await start_engine(settings, resolve_model(settings))

    with TestClient(create_app(settings, load)) as client:
        text = client.get("/metrics").text
    assert _metric(text, "reranker_queue_pairs_limit") == 777
    assert _metric(text, "reranker_request_timeout_seconds") == 42.5
