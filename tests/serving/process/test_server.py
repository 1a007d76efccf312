"""The HTTP server around the app (reranker/server.py), run for real on a loopback port: no
banner, JSON for what the HTTP parser refuses, header timeouts, and the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import threading
import time

import httpx
import pytest

from reranker.app import create_app
from reranker.config import Settings
from reranker.server import make_server
from tests.support.app import free_port
from tests.support.fake_engine import FakeEngine


class _Running:
    def __init__(self, **settings):
        self.engine = FakeEngine()
        self.port = free_port()
        settings = Settings(host="127.0.0.1", http_port=self.port, **settings)

        async def load():
            return self.engine

        self.app = create_app(settings, load)
        self.server = make_server(self.app, settings, on_drain=self.app.state.server.start_draining)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/v2/health/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise TimeoutError("server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def _raw(port: int, data: bytes, read_timeout: float = 10) -> tuple[bytes, float]:
    """Send ``data`` and read until the server closes; (what came back, seconds it took)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        if data:
            sock.sendall(data)
        sock.settimeout(read_timeout)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received, time.monotonic() - start


@pytest.fixture(scope="module")
def server():
    with _Running(header_timeout=0.5, keep_alive_timeout=1) as running:
        yield running


def test_should_send_no_server_banner(server):
    response = httpx.get(server.url + "/v2/health/live")
    assert "server" not in response.headers


def test_should_answer_a_malformed_request_with_json_400(server):
    received, _ = _raw(server.port, b"NOT HTTP AT ALL\r\n\r\n")
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"content-type: application/json" in head.lower()
    assert httpx.Response(400, content=body).json()["error"]["type"] == "BadRequestError"
    # Refused before any header was read: a new request id, as every answer has one.
    assert re.search(rb"\r\nx-request-id: [0-9a-f]{32}\r\n", head.lower() + b"\r\n")


def test_should_close_a_connection_whose_headers_never_finish(server):
    received, took = _raw(server.port, b"POST /openai/v1/rerank HTTP/1.1\r\nHost: x\r\n")
    assert received.startswith(b"HTTP/1.1 408 Request Timeout")
    assert b"--header_timeout" in received
    assert took < 5  # closed by the header timer, not by the test's read timeout


def test_should_close_a_connection_that_never_sends_a_request(server):
    received, took = _raw(server.port, b"")
    assert received == b"" and took < 5


def test_should_keep_serving_a_kept_alive_connection_within_its_timeout(server):
    with httpx.Client(base_url=server.url) as client:
        for _ in range(3):
            assert client.get("/v2/health/live").status_code == 200
            time.sleep(0.3)  # under keep_alive_timeout and under header_timeout


UVICORN_KEEP_ALIVE_S = 5  # uvicorn's default, this server's before it outlasted the proxies' 60 s


def _read_response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection mid-response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"\r\ncontent-length: (\d+)", head.lower()).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_should_serve_the_next_request_on_a_connection_idle_past_uvicorns_default():
    request = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with _Running() as running, socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(request)
        assert _read_response(sock).startswith(b"HTTP/1.1 200")
        time.sleep(UVICORN_KEEP_ALIVE_S + 1.5)  # idle, as a proxy's pooled connection is
        sock.sendall(request)
        assert _read_response(sock).startswith(b"HTTP/1.1 200")


def test_should_drain_on_sigterm_then_exit():
    with _Running(drain_seconds=1.0) as running:
        with httpx.Client(base_url=running.url) as client:
            assert client.get("/v2/health/ready").status_code == 200
            running.server.handle_exit(signal.SIGTERM, None)
            time.sleep(0.2)
            ready = client.get("/v2/health/ready")
            assert ready.status_code == 503 and "shutting down" in ready.json()["error"]["message"]
            scored = client.post("/openai/v1/rerank", json={"query": "q", "documents": ["a", "b"]})
            assert scored.status_code == 200  # still serving while endpoints converge
            assert scored.headers["connection"] == "close"  # so the client reconnects elsewhere
            assert "reranker_draining 1.0" in client.get("/metrics").text
        running.thread.join(timeout=10)
        assert not running.thread.is_alive()
        with pytest.raises(httpx.ConnectError):
            httpx.get(running.url + "/v2/health/live")


def test_should_answer_json_when_shutdown_cuts_a_request_short():
    with _Running(drain_seconds=0, request_timeout=60) as running:
        running.engine.gate = asyncio.Event()  # never set: the request would wait forever
        running.server.config.timeout_graceful_shutdown = 1
        results: list[httpx.Response] = []
        request = threading.Thread(
            target=lambda: results.append(
                httpx.post(running.url + "/openai/v1/rerank", json={"query": "q", "documents": ["a"]}, timeout=30)
            )
        )
        request.start()
        time.sleep(0.5)
        running.server.handle_exit(signal.SIGTERM, None)
        request.join(timeout=30)
        assert results and results[0].status_code == 503
        assert results[0].json()["error"]["message"] == "server is shutting down"
