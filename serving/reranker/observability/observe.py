"""``Observe``: the outermost ASGI middleware. Every answer the app sends (errors, 404s, 429s
and the 500 of ``ErrorGuard`` included) passes through it and gets the request's id in
``X-Request-ID``; the request gets a server span when tracing is on, and an access log line."""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import context, logs, tracing
from .client_closed import CLIENT_CLOSED, client_closed
from .request_id import HEADER, request_id_from


class Observe:
    def __init__(self, app: ASGIApp, dialects: Mapping[str, str], access_log: bool):
        self.app = app
        self.dialects = dialects  # route template -> dialect (a route whose body decides sets its own)
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        headers = scope["headers"]
        request_id = request_id_from(next((value for key, value in headers if key.lower() == HEADER), None))
        record = context.RequestRecord(request_id, scope["method"], scope["path"])
        id_header = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*kept, id_header]}
            await send(message)

        token = context.begin(record)
        try:
            attributes = {
                "http.request.method": record.method,
                "url.path": record.path,
                "reranker.request_id": request_id,
            }
            with tracing.server_span(f"{record.method} {record.path}", headers, attributes) as span:
                record.span = span
                try:
                    await self.app(scope, receive, send_with_id)
                finally:
                    self._finish(record, scope, span)
        finally:
            if self.access_log:
                logs.access_line(record, time.perf_counter() - start)
            context.end(token)

    def _finish(self, record: context.RequestRecord, scope: Scope, span) -> None:
        if client_closed(scope):  # the client hung up: nothing was sent (499, as in the metrics)
            record.status = CLIENT_CLOSED
        # Route templates, never raw paths, name what was served (as the metrics do).
        route = getattr(scope.get("route"), "path", None)
        if route is not None:
            record.route = route
            record.dialect = record.dialect or self.dialects.get(route)
        if span is not None:
            span.update_name(f"{record.method} {record.route}")
            tracing.set_attributes(
                span,
                {
                    "http.route": route,
                    "http.response.status_code": record.status,
                    "reranker.dialect": record.dialect,
                    "reranker.documents": record.documents,
                    "reranker.tokens": record.tokens,
                },
                error=record.status >= 500,
            )
