"""A real server's log with --log_format json (observability/logs.py): one JSON object per line,
uvicorn's and the libraries' lines included; each request has one access line with its id; no
query or document text reaches any line, at any level."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

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
