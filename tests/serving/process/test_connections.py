"""Connections are timed out, and the HTTP layer's own errors come in our JSON shape.

Raw sockets against a real server process (the tiny cross-encoder: the model plays no part)
started with one-second connection timeouts. Each wait is bounded by its timeout plus a
generous margin: a connection still open then is held forever as far as the test can tell.
"""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from harness import server_process
from tests.support.app import assert_error

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

HEADER_TIMEOUT = KEEP_ALIVE_TIMEOUT = BODY_TIMEOUT = 1.0
MARGIN_S = 10.0


@pytest.fixture(scope="module")
def server(tiny_cross_encoder_dir, tmp_path_factory):
    flags = [
        f"--model_id={tiny_cross_encoder_dir}",
        "--backend=torch",
        "--log_level=warning",
        f"--header_timeout={HEADER_TIMEOUT:g}",
        f"--keep_alive_timeout={KEEP_ALIVE_TIMEOUT:g}",
        f"--body_timeout={BODY_TIMEOUT:g}",
    ]
    with server_process.Server(flags, tmp_path_factory.mktemp("server") / "server.log") as running:
        yield running
    assert "Traceback" not in running.log()


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, bool]:
    """Everything the server sends until it closes the connection: (data, closed in time)."""
    data = b""
    deadline = time.monotonic() + within
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def assert_json_error(data: bytes, status: int) -> None:
    code, headers, body = parse_response(data)
    assert code == status, data
    assert headers.get("content-type", "").startswith("application/json"), headers
    assert "server" not in headers, headers  # no framework banner
    payload = json.loads(body[: int(headers["content-length"])])
    assert set(payload) == {"error", "detail"} and payload["error"]["code"] == status, payload
    assert payload["detail"] == payload["error"]["message"]


def test_an_idle_connection_that_sends_nothing_is_closed(server):
    with connect(server) as sock:
        _, closed = read_until_closed(sock, HEADER_TIMEOUT + MARGIN_S)
    assert closed, f"a connection that never sent a request was still open {HEADER_TIMEOUT + MARGIN_S:g} s later"


def test_a_slow_header_connection_is_closed_however_it_trickles(server):
    # Slowloris: a byte of header every 0.2 s never lets a per-read idle timer fire; only a
    # deadline for the whole header block does.
    data, closed = b"", False
    with connect(server) as sock:
        sock.sendall(b"POST /openai/v1/rerank HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        deadline = time.monotonic() + HEADER_TIMEOUT + MARGIN_S
        while time.monotonic() < deadline and not closed:
            if select.select([sock], [], [], 0.2)[0]:
                data, closed = read_until_closed(sock, MARGIN_S)
                break
            try:
                sock.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
    assert closed, "a connection trickling its headers was held past --header_timeout"
    if data:  # the server may say why before closing: then in our shape
        assert_json_error(data, 408)


def test_a_malformed_request_line_gets_a_json_400(server):
    with connect(server) as sock:
        sock.sendall(b"this is not http\r\n\r\n")
        data, closed = read_until_closed(sock, MARGIN_S)
    assert closed
    assert_json_error(data, 400)


def test_an_idle_keep_alive_connection_is_closed(server):
    with connect(server) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        status, headers, body = parse_response(data)
        while len(body) < int(headers["content-length"]):
            body += sock.recv(65536)
        assert status == 200
        _, closed = read_until_closed(sock, KEEP_ALIVE_TIMEOUT + MARGIN_S)
    assert closed, "an idle keep-alive connection was held past --keep_alive_timeout"


def test_a_stalled_body_is_timed_out(server):
    with connect(server) as sock:
        sock.sendall(
            b"POST /openai/v1/rerank HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b'Content-Length: 200\r\n\r\n{"query": "q",'
        )
        data, closed = read_until_closed(sock, BODY_TIMEOUT + MARGIN_S)
    assert closed, "a request whose body stopped coming was held past --body_timeout"
    if data:
        assert_json_error(data, 408)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("GET", "/openai/v1/rerank", "POST"), ("PUT", "/v1/rerank", "POST"), ("POST", "/v2/health/ready", "GET")],
)
def test_a_405_names_the_allowed_methods_in_allow(server, method, path, allowed):
    response = httpx.request(method, server.url + path, timeout=10)
    assert_error(response, 405, r".")
    assert allowed in [m.strip() for m in response.headers.get("allow", "").split(",")], response.headers


def test_the_server_still_serves_after_all_that(server):
    body = {"query": "capital of france", "documents": ["Paris is in France.", "Berlin is in Germany."]}
    assert httpx.post(server.url + "/openai/v1/rerank", json=body, timeout=30).status_code == 200
