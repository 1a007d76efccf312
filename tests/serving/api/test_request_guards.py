"""The ASGI guards around the routes (api/request_guards.py): a body over --max_body_bytes gets a
413 however it arrives, --max_documents reaches request validation, a client that hangs up has its
request cancelled, and whatever escapes the app still gets a JSON answer, with ``Connection: close``
while the server drains."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from reranker.api.request_guards import CancelOnDisconnect, ErrorGuard, RequestLimits
from reranker.api.schemas import MAX_DOCUMENTS
from reranker.app import create_app
from reranker.config import Settings
from reranker.observability.client_closed import client_closed
from tests.support.app import SEED_REQUEST, assert_error, wait_ready
from tests.support.fake_engine import FakeEngine

QUERY = SEED_REQUEST["query"]


@pytest.fixture(scope="module")
def client():
    async def load():
        return FakeEngine()

    with TestClient(create_app(Settings(max_body_bytes=4096), load)) as client:
        yield client


def test_should_answer_413_for_an_oversize_body(client):
    body = {"query": QUERY, "documents": ["x" * 5000]}
    assert_error(client.post("/openai/v1/rerank", json=body), 413, r"larger than the server's limit of 4096 bytes")


def test_should_answer_413_for_an_oversize_streamed_body(client):
    def chunks():
        yield b'{"query": "x", "documents": ["'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"]}'

    response = client.post("/openai/v1/rerank", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, r"--max_body_bytes")


def test_should_make_max_documents_known_to_request_validation():
    seen = []

    async def app(scope, receive, send):
        seen.append(MAX_DOCUMENTS.get())
        await PlainTextResponse("ok")(scope, receive, send)

    assert TestClient(RequestLimits(app, max_documents=7)).get("/").status_code == 200
    assert seen == [7]


def test_should_answer_what_escapes_the_app_with_a_json_500():
    async def broken(scope, receive, send):
        raise RuntimeError("a bug in a route")

    response = TestClient(ErrorGuard(broken, draining=lambda: False)).get("/")
    assert_error(response, 500, r"^internal error \(the server's log has the details\)$")
    assert response.headers["connection"] == "close"


def test_should_close_every_connection_while_the_server_drains():
    draining = False
    client = TestClient(ErrorGuard(PlainTextResponse("ok", headers={"connection": "keep-alive"}), lambda: draining))
    assert client.get("/").headers["connection"] == "keep-alive"
    draining = True
    answer = client.get("/")
    assert answer.status_code == 200 and answer.headers["connection"] == "close"


def test_should_cancel_the_request_of_a_client_that_hangs_up_and_mark_it():
    cancelled: list[str] = []
    scope = {"type": "http", "method": "POST", "path": "/v1/rerank"}

    async def scenario() -> None:
        messages: asyncio.Queue = asyncio.Queue()
        await messages.put({"type": "http.request", "body": b"{}", "more_body": False})

        async def scoring(scope, receive, send):
            await receive()  # the body; then the work, which the client will not wait for
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append("the app")
                raise

        async def send(message):
            raise AssertionError("nothing is sent to a client that left")

        guard = CancelOnDisconnect(scoring, on_cancel=lambda: cancelled.append("counted"))
        request = asyncio.ensure_future(guard(scope, messages.get, send))
        await asyncio.sleep(0.05)
        await messages.put({"type": "http.disconnect"})
        await asyncio.wait_for(request, 10)

    asyncio.run(scenario())
    assert sorted(cancelled) == ["counted", "the app"]
    assert client_closed(scope)  # what the metrics and the access line report as 499


# --- --max_concurrent_body_bytes: the bodies of the requests in progress are bounded --------------


async def _post_in_loop(app, body: bytes, chunked: bool = False) -> int:
    import httpx

    async def parts():
        yield body

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        content = parts() if chunked else body
        response = await http.post("/openai/v1/rerank", content=content, headers={"content-type": "application/json"})
        return response.status_code


def _body(size: int) -> bytes:
    """A valid rerank body of exactly ``size`` bytes."""
    head, tail = b'{"query": "q", "documents": ["', b'"]}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def _unread(client: TestClient, size: int | None):
    """POST a body (declared as ``size`` bytes, or chunked) that fails the test if it is read."""

    def never_read():
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    headers = {"content-type": "application/json"}
    if size is not None:
        headers["content-length"] = str(size)
    return client.post("/openai/v1/rerank", content=never_read(), headers=headers)


@pytest.mark.parametrize("held_chunked", [False, True], ids=["declared", "chunked"])
def test_should_refuse_a_body_that_would_pass_the_concurrent_body_bytes_before_reading_it(held_chunked):
    """A request in progress holds its body's bytes (by Content-Length, or --max_body_bytes for a
    chunked one) until answered: a second body that would pass --max_concurrent_body_bytes is
    refused with 429 before it is read, one that fits is served, and a body without a length
    counts as --max_body_bytes."""
    engine = FakeEngine()
    app = create_app(Settings(max_body_bytes=10_000, max_concurrent_body_bytes=12_000), lambda: _loaded(engine))
    with TestClient(app) as client:
        wait_ready(client)
        engine.gate = client.portal.call(asyncio.Event)
        holder = client.portal.start_task_soon(_post_in_loop, app, _body(6000), held_chunked)
        guard = _until(lambda: app.state.server.admission.requests == 1)
        held = 10_000 if held_chunked else 6000
        assert guard, "the first request was not admitted"

        over = 12_000 - held + 1
        refused = _unread(client, over)
        assert_error(
            refused,
            429,
            rf"hold {held} bytes of request bodies and this one brings {over}.*--max_concurrent_body_bytes",
        )
        assert refused.headers["retry-after"]
        assert_error(_unread(client, None), 429, r"brings 10000, over the limit of 12000")  # chunked: the most
        fits = client.portal.start_task_soon(_post_in_loop, app, _body(12_000 - held))
        assert _until(lambda: app.state.server.admission.requests == 2), "a body that fits was not admitted"

        client.portal.call(engine.gate.set)
        assert (holder.result(timeout=10), fits.result(timeout=10)) == (200, 200)
        # Released when answered: a body of the whole limit is let in again.
        assert _post_body(client, _body(10_000)).status_code == 200
        shed = client.get("/metrics").text
        assert 'reranker_requests_shed_total{reason="queue_full"} 2.0' in shed


def test_should_let_a_lone_request_in_whatever_its_body():
    """Alone in the server, a body of --max_body_bytes is served even over the concurrent limit
    (no valid request is refused forever); over --max_body_bytes it is still a 413."""
    app = create_app(Settings(max_body_bytes=10_000, max_concurrent_body_bytes=4096), lambda: _loaded(FakeEngine()))
    with TestClient(app) as client:
        wait_ready(client)
        assert _post_body(client, _body(10_000)).status_code == 200
        assert_error(_post_body(client, _body(10_001)), 413, r"--max_body_bytes")


def _post_body(client: TestClient, body: bytes):
    return client.post("/openai/v1/rerank", content=body, headers={"content-type": "application/json"})


async def _loaded(engine: FakeEngine) -> FakeEngine:
    return engine


def _until(condition, timeout: float = 10) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
