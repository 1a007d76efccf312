"""CORS (--cors_allow_origin): off by default; for an allowed origin, preflights and every answer,
errors included, carry Access-Control-Allow-Origin; for another origin, none does."""

from __future__ import annotations

from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from tests.support.fake_engine import FakeEngine

ALLOWED, OTHER = "https://search.example", "https://elsewhere.example"
PREFLIGHT = {"access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type"}


def client_for(**settings) -> TestClient:
    async def load():
        return FakeEngine()

    return TestClient(create_app(Settings(**settings), load))


def test_should_answer_preflight_for_an_allowed_origin_before_the_api_key_check():
    with client_for(cors_allow_origin=f"{ALLOWED}, https://admin.example", api_key="secret") as client:
        allowed = client.options("/openai/v1/rerank", headers={"origin": ALLOWED, **PREFLIGHT})
        other = client.options("/openai/v1/rerank", headers={"origin": OTHER, **PREFLIGHT})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in allowed.headers
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


def test_should_put_the_header_on_error_answers_for_an_allowed_origin_only():
    with client_for(cors_allow_origin=ALLOWED, api_key="secret") as client:
        unauthorized = client.post("/openai/v1/rerank", json={}, headers={"origin": ALLOWED})
        keyed = {"origin": ALLOWED, "authorization": "Bearer secret"}
        invalid = client.post("/openai/v1/rerank", json={}, headers=keyed)
        other = client.post("/openai/v1/rerank", json={}, headers={"origin": OTHER})
    assert unauthorized.status_code == 401 and unauthorized.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in unauthorized.headers["access-control-expose-headers"].lower()
    assert invalid.status_code in (400, 503) and invalid.headers["access-control-allow-origin"] == ALLOWED
    assert other.status_code == 401 and "access-control-allow-origin" not in other.headers


def test_should_send_no_cors_headers_by_default():
    with client_for() as client:
        preflight = client.options("/openai/v1/rerank", headers={"origin": ALLOWED, **PREFLIGHT})
        answer = client.post("/openai/v1/rerank", json={}, headers={"origin": ALLOWED})
    assert preflight.status_code == 405
    assert not any(name.startswith("access-control-") for name in preflight.headers)
    assert not any(name.startswith("access-control-") for name in answer.headers)
