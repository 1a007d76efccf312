"""Health and readiness (api/health.py): live at once, ready (and the KServe model routes) only
once the model has loaded, 404 for a model name the server does not serve."""

from __future__ import annotations

import asyncio
import threading

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


def test_should_answer_404_for_unknown_model_routes(tiny_client):
    assert_error(tiny_client.get("/v1/models/other"), 404, r"model 'other' not found")
    assert_error(tiny_client.get("/v2/models/other/ready"), 404, r"model 'other' not found")
