"""The HTTP server around the app: uvicorn with connection timeouts, JSON parser errors and a
drain on SIGTERM.

uvicorn leaves three gaps this module closes:
- a connection that never finishes its headers (or never sends any) is held forever: a header
  timer closes it after ``--header_timeout``;
- a request the HTTP parser refuses gets a plain-text 400: ours is JSON in the API's error shape;
- SIGTERM closes the listener at once, so requests still on their way (from endpoints that have
  not yet dropped the pod) are refused or reset. Here readiness turns 503 first and the server
  keeps serving ``--drain_seconds``; only then does uvicorn's graceful shutdown start, which
  closes idle connections and waits for the accepted requests (each bounded by
  ``--request_timeout``). The process then exits 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from http import HTTPStatus
from types import FrameType

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .api.errors import ErrorJSONResponse, error_body
from .observability.request_id import HEADER as REQUEST_ID_HEADER
from .observability.request_id import new_request_id

log = logging.getLogger(__name__)


class TimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and JSON 400/408 answers."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._received_any = False
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        super().data_received(data)
        # Headers complete: the parser has moved past IDLE. Still IDLE: waiting for (the rest of)
        # a request line and headers, on a new or a kept-alive connection.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_timer()
        else:
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Between requests uvicorn's keep-alive timer watches the connection.
        self._disarm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        # getattr: connection_lost may come without connection_made having set it.
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; the keep-alive logic takes over after it
        if self._received_any and self.conn.our_state is h11.IDLE:
            message = f"request headers not received within {self.header_timeout:g} s (--header_timeout)"
            self._send_error(408, message)
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._send_error(400, f"malformed HTTP request: {msg.rstrip('.')}")

    def _send_error(self, status: int, message: str) -> None:
        body = bytes(ErrorJSONResponse(error_body(status, message)).body)  # render() gives bytes: no copy
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            # The parser refused the request, so the client's X-Request-ID may be unreadable.
            (REQUEST_ID_HEADER, new_request_id().encode("ascii")),
        ]
        try:
            response = h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)
            for event in (response, h11.Data(data=body), h11.EndOfMessage()):
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:
            pass  # the parser's state allows no response any more: just close
        self.transport.close()


def protocol_class(header_timeout: float) -> type[TimedH11Protocol]:
    return type("TimedH11Protocol", (TimedH11Protocol,), {"header_timeout": header_timeout})


class DrainingServer(uvicorn.Server):
    """uvicorn's server that drains before its graceful shutdown on SIGTERM."""

    def __init__(self, config: uvicorn.Config, drain_seconds: float, on_drain) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self._on_drain = on_drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._draining = False

    async def startup(self, sockets=None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self._loop is None:
            super().handle_exit(sig, frame)  # Ctrl-C (and a signal before start-up): as uvicorn
            return
        if self._draining:
            log.warning("second SIGTERM: stopping now")
            self.should_exit = True
            return
        # Not appended to uvicorn's captured signals: after a clean drain the process exits 0
        # instead of re-raising SIGTERM on itself.
        self._draining = True
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        log.info("SIGTERM: readiness now 503; serving %g s more before shutdown", self.drain_seconds)
        self._on_drain()
        assert self._loop is not None
        self._loop.call_later(self.drain_seconds, self._stop)

    def _stop(self) -> None:
        log.info("drain over: closing the listener and finishing accepted requests")
        self.should_exit = True


def make_server(app, settings, on_drain) -> DrainingServer:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level,
        # Logging is set up by observability/logs.py (uvicorn's lines through the same handler);
        # the access log is Observe's, with request ids and durations.
        log_config=None,
        access_log=False,
        http=protocol_class(settings.header_timeout),
        timeout_keep_alive=settings.keep_alive_timeout,
        # Every accepted request ends by its deadline; the margin covers sending the answer.
        timeout_graceful_shutdown=int(settings.request_timeout) + 2,
        server_header=False,
        lifespan="on",
    )
    return DrainingServer(config, settings.drain_seconds, on_drain)
