"""Log lines (observability/logs.py): one access line per request, rendered as JSON with its fields;
none with the access log off. tests/serving/process/test_json_logs.py reads a real server's log."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from reranker.app import create_app
from reranker.config import Settings
from reranker.observability.logs import JsonFormatter
from tests.support.fake_engine import FakeEngine


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
