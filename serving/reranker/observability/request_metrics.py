"""``RequestMetrics``: the ASGI middleware that counts every answer by route template and status,
times it, and tracks the requests in flight (``metrics.py`` holds the series)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..metrics import Metrics
from .client_closed import CLIENT_CLOSED, client_closed


class RequestMetrics:
    """Count requests by route template and status, time them, and track those in flight."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.in_flight.dec()
            if client_closed(scope):
                status = CLIENT_CLOSED
            route = scope.get("route")
            # Route templates, never raw paths: unknown URLs must not create new series.
            label = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - start)
