"""Prometheus metrics of the server, in a registry of its own (one per app, so tests can count)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "reranker_requests",
            "HTTP requests by route and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "reranker_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "reranker_requests_in_flight", "HTTP requests being answered now.", registry=self.registry
        )
        self.documents = Counter(
            "reranker_documents_scored",
            "Pairs scored (documents of rerank, text_2 items of score).",
            registry=self.registry,
        )
        self.tokens = Counter("reranker_tokens", "Tokenizer tokens processed for scoring.", registry=self.registry)
        self.batch_size = Histogram(
            "reranker_batch_size",
            "Pairs or texts per model batch (torch engine).",
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_tokens = Histogram(
            "reranker_batch_padded_tokens",
            "Tokens computed per model batch, padding included (torch engine; a packed batch has none).",
            buckets=tuple(b * 64 for b in _BATCH_BUCKETS),
            registry=self.registry,
        )

        # Admission control and deadlines (api/admission.py, api/ranking.py, api/request_guards.py).
        self.queue_pairs = Gauge(
            "reranker_queue_pairs",
            "Pairs admitted and not yet scored (what --max_queued_pairs bounds).",
            registry=self.registry,
        )
        # The configured bounds, so that alerts compare with what this server runs with rather
        # than with a copy of the default (components/monitoring's PrometheusRule).
        self.queue_pairs_limit = Gauge(
            "reranker_queue_pairs_limit", "The --max_queued_pairs bound of this server.", registry=self.registry
        )
        self.request_timeout = Gauge(
            "reranker_request_timeout_seconds", "The --request_timeout of this server.", registry=self.registry
        )
        self.queue_requests = Gauge(
            "reranker_queue_requests", "Scoring requests admitted and not yet answered.", registry=self.registry
        )
        self.shed = Counter(
            "reranker_requests_shed",
            "Requests refused with 429: queue_full (--max_queued_pairs, --max_queued_chars, "
            "--max_concurrent_body_bytes), concurrency (--max_concurrent_requests) or overloaded "
            "(the wait would pass --request_timeout).",
            ["reason"],
            registry=self.registry,
        )
        self.expired = Counter(
            "reranker_requests_expired",
            "Requests answered 504 at --request_timeout; their work was dropped.",
            registry=self.registry,
        )
        self.cancelled = Counter(
            "reranker_requests_cancelled",
            "Requests whose client disconnected first; their work was dropped.",
            registry=self.registry,
        )
        self.draining = Gauge(
            "reranker_draining",
            "1 after SIGTERM: readiness is 503 and the server is shutting down.",
            registry=self.registry,
        )
        for reason in ("queue_full", "concurrency", "overloaded"):
            self.shed.labels(reason)  # present at 0, so rate() works from the first scrape

    def observe_batch(self, items: int, padded_tokens: int) -> None:
        self.batch_size.observe(items)
        self.batch_tokens.observe(padded_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)
