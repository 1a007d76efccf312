"""X-Request-ID (observability/request_id.py, observe.Observe): the client's id when it is safe,
else a new one, on every answer the server gives: 200, 400, 401, 404, 429 and 500."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from reranker.engine.base import ScoreOptions, ScoreResult
from reranker.observability.request_id import request_id_from
from tests.support.fake_engine import FakeEngine

BODY = {"query": "q", "documents": ["a", "b"]}
GENERATED = re.compile(r"^[0-9a-f]{32}$")


class BrokenEngine(FakeEngine):
    """Scores the warm-up batch, then fails every request (a bug in the model code)."""

    calls = 0

    async def score(self, pairs, options: ScoreOptions) -> ScoreResult:
        self.calls += 1
        if self.calls > 2:
            raise RuntimeError("the model broke")
        return await super().score(pairs, options)


def client_for(engine: FakeEngine, **settings) -> TestClient:
    async def load():
        return engine

    return TestClient(create_app(Settings(**settings), load), raise_server_exceptions=False)


@pytest.fixture
def client():
    with client_for(FakeEngine()) as client:
        while client.get("/v2/health/ready").status_code != 200:
            pass
        yield client


def test_should_echo_the_clients_request_id(client):
    response = client.post("/openai/v1/rerank", json=BODY, headers={"x-request-id": "caller-42"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "caller-42"


@pytest.mark.parametrize("unsafe", ["x" * 129, "two words", "tab\there", "caf\u00e9"])
def test_should_replace_an_id_unsafe_to_log_or_echo(unsafe):
    assert GENERATED.match(request_id_from(unsafe.encode()))


def test_should_generate_an_id_when_the_client_sends_none(client):
    first = client.get("/v2/health/live").headers["x-request-id"]
    second = client.get("/v2/health/live").headers["x-request-id"]
    assert GENERATED.match(first) and GENERATED.match(second) and first != second


def test_should_send_the_id_on_errors(client):
    invalid = client.post("/openai/v1/rerank", json={"query": "q"}, headers={"x-request-id": "bad-body"})
    assert (invalid.status_code, invalid.headers["x-request-id"]) == (400, "bad-body")
    missing = client.get("/no/such/route", headers={"x-request-id": "nowhere"})
    assert (missing.status_code, missing.headers["x-request-id"]) == (404, "nowhere")


def test_should_send_the_id_on_401():
    with client_for(FakeEngine(), api_key="secret") as client:
        response = client.post("/openai/v1/rerank", json=BODY, headers={"x-request-id": "no-key"})
    assert (response.status_code, response.headers["x-request-id"]) == (401, "no-key")


def test_should_send_the_id_on_429_from_a_full_queue(client):
    admission = client.app.state.server.admission
    # The queue as a burst leaves it: one request in, holding every pair the server admits.
    admission.requests, admission.pairs = 1, admission.max_pairs
    try:
        response = client.post("/openai/v1/rerank", json=BODY, headers={"x-request-id": "shed"})
    finally:
        admission.requests, admission.pairs = 0, 0
    assert (response.status_code, response.headers["x-request-id"]) == (429, "shed")


def test_should_send_the_id_on_500():
    with client_for(BrokenEngine()) as client:
        while client.get("/v2/health/ready").status_code != 200:
            pass
        response = client.post("/openai/v1/rerank", json=BODY, headers={"x-request-id": "broken"})
    assert (response.status_code, response.headers["x-request-id"]) == (500, "broken")
