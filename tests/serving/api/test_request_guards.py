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
from tests.support.app import SEED_REQUEST, assert_error
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
