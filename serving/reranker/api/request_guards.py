"""The ASGI middleware that guards the routes, outermost first in ``app.py``:

- ``ErrorGuard``: whatever escapes the app still gets a JSON answer (a 500, or a 503 when
  uvicorn cancels a request at the end of its graceful shutdown), and while the server drains
  every answer says ``Connection: close`` so clients reconnect to a pod that stays;
- ``APIKeyAuth`` (``auth.py``): 401 before any body is read;
- ``ShedWhenFull``: 429 before the body is read while the server is full (``admission.py``), at
  ``--max_concurrent_requests``, or when the bodies in progress would pass
  ``--max_concurrent_body_bytes``;
- ``CancelOnDisconnect``: a client that hangs up cancels its request, so its queued work is dropped;
- ``BodyLimits``: 413 over ``--max_body_bytes``, 408 when a body part takes longer than ``--body_timeout``;
- ``RequestLimits``: ``--max_documents`` for request validation.

Outside them run observability's ``Observe`` and ``RequestMetrics``, and CORS where it is on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.client_closed import client_closed, mark_client_closed
from .admission import Admission
from .errors import error_response
from .schemas import MAX_DOCUMENTS

log = logging.getLogger(__name__)


class _BodyError(HTTPException):
    # An HTTPException, because FastAPI turns any other error while reading a body into a 400.
    # The rest of the body may still come: the connection cannot carry another request.
    def __init__(self, status: int, message: str):
        super().__init__(status, message, headers={"connection": "close"})


class ShedWhenFull:
    """429 for a scoring request (every POST) before its body is read, while the server is full,
    already handling ``max_concurrent`` scoring requests, or holding ``max_body_bytes_held`` bytes
    of their bodies: a burst of clients then costs the event loop no parsing, health probes stay
    fast, and the memory that parsed bodies take is bounded (docs/api.md, "Peak memory on CPU").

    A body counts by its Content-Length (at most ``max_body_bytes``: a larger one is answered
    413 by ``BodyLimits``), or as ``max_body_bytes`` when it comes without one (chunked), from
    admission until the answer is sent: the request holds it, parsed, all that time. A request
    alone in the server is always let in, so no valid request is refused forever."""

    def __init__(
        self,
        app: ASGIApp,
        admission: Admission,
        max_concurrent: int,
        max_body_bytes: int,
        max_body_bytes_held: int,
    ):
        self.app = app
        self.admission = admission
        self.max_concurrent = max_concurrent
        self.max_body_bytes = max_body_bytes
        self.max_body_bytes_held = max_body_bytes_held
        self.active = 0
        self.body_bytes = 0  # held by the requests in progress

    def _body_bytes(self, scope: Scope) -> int:
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            return min(int(declared), self.max_body_bytes)
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body_bytes = self._body_bytes(scope)
        refused = self.admission.saturated()
        if refused is None and self.active >= self.max_concurrent:
            refused = self.admission.shed_concurrency(self.active, self.max_concurrent)
        if refused is None and self.active and self.body_bytes + body_bytes > self.max_body_bytes_held:
            refused = self.admission.shed_body_bytes(self.body_bytes, body_bytes, self.max_body_bytes_held)
        if refused is not None:
            await error_response(refused.status, refused.message, headers=refused.headers)(scope, receive, send)
            return
        self.active += 1
        self.body_bytes += body_bytes
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self.body_bytes -= body_bytes


class RequestLimits:
    """Make this server's --max_documents known to request validation (``schemas.MAX_DOCUMENTS``),
    so an oversized list is refused before its items are validated."""

    def __init__(self, app: ASGIApp, max_documents: int):
        self.app = app
        self.max_documents = max_documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = MAX_DOCUMENTS.set(self.max_documents)
        try:
            await self.app(scope, receive, send)
        finally:
            MAX_DOCUMENTS.reset(token)


class BodyLimits:
    """413 for bodies over ``max_bytes`` (by Content-Length or while streaming), 408 for a body
    part that does not arrive within ``timeout`` seconds."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> _BodyError:
        return _BodyError(
            413, f"request body is larger than the server's limit of {self.max_bytes} bytes (--max_body_bytes)"
        )

    def _too_slow(self) -> _BodyError:
        return _BodyError(408, f"request body not received within {self.timeout:g} s (--body_timeout)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _answer(self._too_large(), scope, receive, send)
            return
        received = 0
        complete = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()  # after the body: only a disconnect can come, no deadline
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except asyncio.TimeoutError:
                raise self._too_slow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyError as exc:
            if not started:
                await _answer(exc, scope, receive, send)


async def _answer(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    await error_response(exc.status_code, str(exc.detail), headers=exc.headers)(scope, receive, send)


class CancelOnDisconnect:
    """Cancel a request whose client disconnects before its answer is sent.

    Starlette does not notice a disconnect until it writes the answer, so an abandoned request
    would still be queued and computed. Once the body is read, this waits on the connection
    beside the app and cancels the app when the client goes; the batcher then skips its pairs.
    """

    def __init__(self, app: ASGIApp, on_cancel: Callable[[], None]):
        self.app = app
        self.on_cancel = on_cancel

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_read = asyncio.Event()
        client_gone = asyncio.Event()
        answered = False

        async def app_receive() -> Message:
            if body_read.is_set():  # later reads (is_disconnected) learn it from the watcher
                await client_gone.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                client_gone.set()
            elif not message.get("more_body", False):
                body_read.set()
            return message

        async def app_send(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                answered = True
            await send(message)

        async def watch() -> None:
            await body_read.wait()
            message = await receive()  # uvicorn answers this only when the connection ends
            if message["type"] == "http.disconnect" and not answered:
                client_gone.set()

        app_task = asyncio.ensure_future(self.app(scope, app_receive, app_send))
        watcher = asyncio.ensure_future(watch())
        gone = asyncio.ensure_future(client_gone.wait())
        try:
            await asyncio.wait({app_task, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not app_task.done():
                app_task.cancel()
                mark_client_closed(scope)
                self.on_cancel()
            try:
                await app_task
            except asyncio.CancelledError:
                if not client_closed(scope):
                    raise
        finally:
            watcher.cancel()
            gone.cancel()
            if not app_task.done():  # this middleware itself was cancelled
                app_task.cancel()


class ErrorGuard:
    """Last line: a JSON error for anything that escapes, ``Connection: close`` while draining."""

    def __init__(self, app: ASGIApp, draining: Callable[[], bool]):
        self.app = app
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if self.draining():
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"connection"]
                    message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except asyncio.CancelledError:
            if client_closed(scope) or started:
                raise
            # uvicorn cancels what is left when its graceful shutdown times out.
            await error_response(503, "server is shutting down", headers={"connection": "close"})(scope, receive, send)
        except Exception:
            if started:
                return  # Starlette re-raises after its handler answered (and logged) it
            log.exception("unhandled error")
            await error_response(
                500, "internal error (the server's log has the details)", headers={"connection": "close"}
            )(scope, receive, send)
