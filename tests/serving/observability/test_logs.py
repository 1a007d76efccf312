"""Log lines (observability/logs.py): --log_format json prints one JSON object per line, uvicorn's
and the libraries' lines included; each request has one access line with its id; no query or
document text reaches any line, at any level."""

from __future__ import annotations

import json
import logging
import secrets

import httpx
import pytest
from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from reranker.observability.logs import JsonFormatter
from tests.support.fake_engine import FakeEngine
from harness.server_process import Server

MARKER = "zqxmarker" + secrets.token_hex(4)
QUERY = f"{MARKER} what is the capital of France"
DOCUMENTS = [f"{MARKER} the capital of France is Paris", f"{MARKER} bananas are yellow"]


@pytest.fixture(scope="module")
def json_server(tiny_cross_encoder_dir, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("json-log") / "server.log"  # kept after the server stops
    args = [
        "--model_id",
        str(tiny_cross_encoder_dir),
        "--backend",
        "torch",
        "--log_format",
        "json",
        "--log_level",
        "debug",
    ]
    with Server(args, log_path) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        yield server, client


@pytest.mark.slow
def test_should_print_only_json_lines_with_request_ids_and_no_text(json_server):
    server, client = json_server
    answers = [
        client.post("/openai/v1/rerank", json={"query": QUERY, "documents": DOCUMENTS}),
        client.post("/v2/rerank", json={"query": QUERY, "documents": DOCUMENTS, "top_n": MARKER}),
        client.post("/openai/v1/rerank", json={"model": MARKER, "query": QUERY, "documents": DOCUMENTS}),
        client.post(
            "/rerank",
            content=f'{{"query": "{QUERY}", "texts": ["{MARKER}"',  # cut short: not JSON
            headers={"content-type": "application/json"},
        ),
        client.post("/v1/score", json={"text_1": QUERY, "text_2": [{"text": MARKER}]}),
    ]
    assert [a.status_code for a in answers] == [200, 400, 404, 400, 400]
    server.stop()  # shutdown's lines too
    lines = [json.loads(line) for line in server.log().splitlines()]  # every line parses

    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert not [line for line in lines if MARKER in json.dumps(line)]
    access = {line["request_id"]: line for line in lines if line["logger"] == "reranker.access"}
    first = access[answers[0].headers["x-request-id"]]
    assert first["route"] == "/openai/v1/rerank" and first["status"] == 200 and first["dialect"] == "kserve_openai"
    assert first["documents"] == 2 and first["tokens"] > 0 and first["duration_ms"] >= 0
    assert "trace_id" not in first  # tracing is off
    assert [access[a.headers["x-request-id"]]["status"] for a in answers] == [200, 400, 404, 400, 400]


async def _fake():
    return FakeEngine()


def _access_lines(caplog, **settings) -> list[logging.LogRecord]:
    with TestClient(create_app(Settings(**settings), _fake)) as client:
        while client.get("/v2/health/ready").status_code != 200:
            pass
        caplog.clear()
        with caplog.at_level(logging.INFO):
            response = client.post("/v1/rerank", json={"query": "q", "documents": ["a b", "c"]})
    assert response.status_code == 200
    return [r for r in caplog.records if r.name == "reranker.access"]


def test_should_write_one_access_line_per_request_by_default(caplog):
    (line,) = _access_lines(caplog)
    assert line.getMessage().startswith("POST /v1/rerank 200 ")
    assert "dialect=cohere documents=2 tokens=3" in line.getMessage()
    rendered = json.loads(JsonFormatter().format(line))
    assert rendered["status"] == 200 and rendered["route"] == "/v1/rerank" and rendered["documents"] == 2


def test_should_write_no_access_lines_with_access_log_off(caplog):
    assert _access_lines(caplog, access_log=False) == []
