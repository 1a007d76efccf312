"""Prometheus metrics of the server, in a registry of its own (one per app, so tests can count)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reranker_requests", "HTTP requests by route and status.",
            ["route", "method", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "reranker_request_duration_seconds", "Time to answer an HTTP request.",
            ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "reranker_requests_in_flight", "HTTP requests being answered now.", registry=self.registry
        )
        self.documents = Counter(
            "reranker_documents_scored", "Pairs scored (documents of rerank, text_2 items of score).",
            registry=self.registry,
        )
        self.tokens = Counter(
            "reranker_tokens", "Tokenizer tokens processed for scoring.", registry=self.registry
        )
        self.batch_size = Histogram(
            "reranker_batch_size", "Pairs or texts per model batch (torch engine).",
            buckets=_BATCH_BUCKETS, registry=self.registry,
        )
        self.batch_tokens = Histogram(
            "reranker_batch_padded_tokens", "Padded tokens per model batch (torch engine).",
            buckets=tuple(b * 64 for b in _BATCH_BUCKETS), registry=self.registry,
        )

    def observe_batch(self, items: int, padded_tokens: int) -> None:
        self.batch_size.observe(items)
        self.batch_tokens.observe(padded_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
