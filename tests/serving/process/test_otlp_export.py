"""Traces over OTLP from a real server process (observability/tracing.py) to a real OTLP/HTTP
receiver, with nothing set but OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: a server span that continues
the caller's trace, its children, the ids in the access line, and no query or document text."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from harness.server_process import Server
from tests.support.dialect_requests import dialect_requests
from tests.support.otlp_receiver import OtlpReceiver, attributes

pytestmark = pytest.mark.slow

MARKER = "zqxmarker" + secrets.token_hex(4)
DOCUMENTS = [f"{MARKER} the capital of France is Paris", f"{MARKER} bananas are yellow"]
QUERY = f"{MARKER} what is the capital of France"
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@pytest.fixture(scope="module")
def traced(tiny_cross_encoder_dir):
    with OtlpReceiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": receiver.url + "/v1/traces",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds: spans reach the receiver soon
            "OTEL_SERVICE_NAME": "reranker-under-test",
        }
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
        with Server(args, env=env) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            yield server, client, receiver


def traceparent() -> tuple[str, str, str]:
    trace_id, parent_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent_id}-01", trace_id, parent_id


def spans_of(receiver: OtlpReceiver, trace_id: str, count: int = 1) -> list:
    def of_trace(spans):
        return [s for s in spans if s.trace_id.hex() == trace_id]

    receiver.wait_for(lambda spans: sum(s.kind == SERVER_KIND for s in of_trace(spans)) >= count)
    return of_trace(receiver.received())


@pytest.mark.parametrize(
    ("dialect", "path", "body"),
    dialect_requests(QUERY, DOCUMENTS),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_should_continue_the_callers_trace_with_a_server_span_and_children(traced, dialect, path, body):
    server, client, receiver = traced
    header, trace_id, parent_id = traceparent()
    response = client.post(path, json=body, headers={"traceparent": header})
    assert response.status_code == 200, response.text

    spans = spans_of(receiver, trace_id)
    (root,) = [s for s in spans if s.kind == SERVER_KIND]
    assert root.parent_span_id.hex() == parent_id
    values = attributes(root)
    assert values["http.response.status_code"] == 200
    assert values["http.route"] == path
    assert values["reranker.dialect"] == dialect
    assert values["reranker.documents"] == len(DOCUMENTS)
    assert values["reranker.tokens"] > 0
    assert values["reranker.request_id"] == response.headers["x-request-id"]
    children = {s.name for s in spans if s.parent_span_id == root.span_id}
    assert {"admission", "score"} <= children
    # The model batch serves several requests: a span of its own, linked to this request's.
    request_span_ids = {s.span_id for s in spans}
    batches = receiver.wait_for(
        lambda all_spans: any(
            s.name == "model batch" and any(link.span_id in request_span_ids for link in s.links) for s in all_spans
        )
    )
    assert any(s.name == "tokenize" for s in spans)
    assert batches


def test_should_log_the_trace_and_span_ids_of_each_request(traced):
    server, client, receiver = traced
    header, trace_id, _ = traceparent()
    response = client.post(
        "/openai/v1/rerank", json={"query": "q", "documents": ["a", "b"]}, headers={"traceparent": header}
    )
    (root,) = [s for s in spans_of(receiver, trace_id) if s.kind == SERVER_KIND]
    lines = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    access = [
        line
        for line in lines
        if line.get("request_id") == response.headers["x-request-id"] and line["logger"] == "reranker.access"
    ]
    assert len(access) == 1
    assert access[0]["trace_id"] == trace_id
    assert access[0]["span_id"] == root.span_id.hex()


def test_should_put_no_query_or_document_text_in_any_span(traced):
    server, client, receiver = traced
    header, trace_id, _ = traceparent()
    invalid = {"query": QUERY, "documents": DOCUMENTS, "top_n": "not a number " + MARKER}
    wrong_model = {"model": "no-such-model-" + MARKER, "query": QUERY, "documents": DOCUMENTS}
    assert client.post("/openai/v1/rerank", json=invalid, headers={"traceparent": header}).status_code == 400
    assert client.post("/openai/v1/rerank", json=wrong_model, headers={"traceparent": header}).status_code == 404
    assert client.post("/v1/score", json={"text_1": QUERY, "text_2": DOCUMENTS}).status_code == 200
    spans_of(receiver, trace_id, count=2)
    for span in receiver.received():
        texts = [span.name, *map(str, attributes(span).values()), span.status.message]
        texts += [event.name for event in span.events] + [str(attributes(event)) for event in span.events]
        assert not any(MARKER in text for text in texts), span
