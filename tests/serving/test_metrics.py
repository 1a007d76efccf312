"""The server's metrics (metrics.py): a registry of its own per app, the model batches observed,
every shed reason shown from the first scrape, and through a real app the requests, documents,
tokens and batches counted."""

from __future__ import annotations

from harness.metrics import metric, parse_metrics
from reranker.metrics import Metrics
from tests.support.app import SEED_REQUEST


def samples(metrics: Metrics) -> dict[str, float]:
    return parse_metrics(metrics.render().decode())


def test_each_app_should_count_in_a_registry_of_its_own():
    first, second = Metrics(), Metrics()
    first.documents.inc(3)
    assert metric(samples(first), "reranker_documents_scored_total") == 3
    assert metric(samples(second), "reranker_documents_scored_total") == 0


def test_should_observe_each_model_batch_and_its_padded_tokens():
    metrics = Metrics()
    metrics.observe_batch(4, 512)
    metrics.observe_batch(2, 64)
    observed = samples(metrics)
    assert (metric(observed, "reranker_batch_size_count"), metric(observed, "reranker_batch_size_sum")) == (2, 6)
    assert metric(observed, "reranker_batch_padded_tokens_sum") == 576


def test_should_show_every_shed_reason_before_any_request_is_shed():
    # rate() over a series that appears only at its first 429 would miss that first one.
    shown = samples(Metrics())
    for reason in ("queue_full", "concurrency", "overloaded"):
        assert f'reranker_requests_shed_total{{reason="{reason}"}}' in shown


def test_should_count_requests_documents_tokens_and_batches(tiny_client):
    before = tiny_client.get("/metrics").text
    body = tiny_client.post("/openai/v1/rerank", json=SEED_REQUEST).json()
    tiny_client.post("/openai/v1/rerank", json={"query": ""})
    after = tiny_client.get("/metrics").text

    def delta(name, **labels):
        return metric(parse_metrics(after), name, **labels) - metric(parse_metrics(before), name, **labels)

    assert delta("reranker_requests_total", method="POST", route="/openai/v1/rerank", status="200") == 1
    assert delta("reranker_requests_total", method="POST", route="/openai/v1/rerank", status="400") == 1
    assert delta("reranker_request_duration_seconds_count", route="/openai/v1/rerank") == 2
    assert delta("reranker_documents_scored_total") == 4
    assert delta("reranker_tokens_total") == body["usage"]["total_tokens"]
    assert delta("reranker_batch_size_count") >= 1
    assert delta("reranker_batch_size_sum") == 4
    assert "reranker_requests_in_flight" in after
