"""The optional API key (api/auth.py, --api_key / RERANKER_API_KEY): 401 on every API route without
one of the keys, health probes always open, /metrics open unless asked."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from tests.support.app import SEED_REQUEST, assert_error, wait_ready
from tests.support.fake_engine import FakeEngine

SCORING = [
    ("POST", "/openai/v1/rerank", SEED_REQUEST),
    ("POST", "/v1/rerank", SEED_REQUEST),
    ("POST", "/v2/rerank", SEED_REQUEST),
    ("POST", "/rerank", {"query": "q", "texts": ["a"]}),
    ("POST", "/v1/ranking", {"query": {"text": "q"}, "passages": [{"text": "a"}]}),
    ("POST", "/v1/score", {"text_1": "q", "text_2": "a"}),
    ("GET", "/v1/models", None),
    ("GET", "/openai/v1/models", None),
    ("GET", "/info", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
]
PROBES = ["/v2/health/live", "/v2/health/ready", "/v1/models/reranker", "/v2/models/reranker/ready"]


def _client(**settings) -> TestClient:
    engine = FakeEngine()

    async def load():
        return engine

    return TestClient(create_app(Settings(**settings), load))


@pytest.fixture(scope="module")
def keyed():
    with _client(api_key="first-key,second-key") as client:
        wait_ready(client)
        yield client


@pytest.mark.parametrize(("method", "path", "body"), SCORING)
def test_should_refuse_every_api_route_without_the_key(keyed, method, path, body):
    response = keyed.request(method, path, json=body)
    assert_error(response, 401, r"missing API key")
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = keyed.request(method, path, json=body, headers={"Authorization": "Bearer wrong"})
    assert_error(wrong, 401, r"invalid API key")
    basic = keyed.request(method, path, json=body, headers={"Authorization": "Basic Zmlyc3Qta2V5"})
    assert basic.status_code == 401


@pytest.mark.parametrize("key", ["first-key", "second-key"])
@pytest.mark.parametrize(("method", "path", "body"), SCORING[:6])
def test_should_accept_each_configured_key(keyed, method, path, body, key):
    response = keyed.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", PROBES)
def test_should_leave_health_probes_open(keyed, path):
    assert keyed.get(path).status_code == 200


def test_should_leave_metrics_open_unless_asked(keyed):
    assert keyed.get("/metrics").status_code == 200
    with _client(api_key="k", protect_metrics=True) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer k"}).status_code == 200
