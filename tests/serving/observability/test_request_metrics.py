"""Requests counted by route template and status (observability/request_metrics.py): an unknown
path never becomes a series of its own, and a request whose client hung up counts as 499."""

from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from harness.metrics import metric, parse_metrics
from reranker.metrics import Metrics
from reranker.observability.client_closed import mark_client_closed
from reranker.observability.request_metrics import RequestMetrics


def test_should_label_unknown_paths_as_unmatched(tiny_client):
    tiny_client.get("/random/path/123")
    text = tiny_client.get("/metrics").text
    assert "/random/path/123" not in text
    assert metric(parse_metrics(text), "reranker_requests_total", method="GET", route="unmatched", status="404") >= 1


def test_should_count_a_request_whose_client_hung_up_as_499():
    metrics = Metrics()

    async def abandoned(scope, receive, send):
        mark_client_closed(scope)  # as CancelOnDisconnect does when the client goes
        await PlainTextResponse("not for anyone")(scope, receive, send)

    TestClient(RequestMetrics(abandoned, metrics)).get("/v1/rerank")
    counted = parse_metrics(metrics.render().decode())
    assert metric(counted, "reranker_requests_total", route="unmatched", method="GET", status="499") == 1
    assert metric(counted, "reranker_requests_total", status="200") == 0
    assert metric(counted, "reranker_requests_in_flight") == 0
