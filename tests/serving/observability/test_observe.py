"""The outermost middleware (observability/observe.py): every answer carries the request's id once,
and the access line names the route template, its dialect, and 499 for a client that hung up
(test_request_id.py checks the id on every kind of answer, test_logs.py the access log's switch)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from fastapi.testclient import TestClient
from starlette.responses import PlainTextResponse

from reranker.observability.client_closed import mark_client_closed
from reranker.observability.logs import ACCESS_LOGGER
from reranker.observability.observe import Observe


def observed(app) -> TestClient:
    return TestClient(Observe(app, dialects={"/v1/rerank": "cohere"}, access_log=True))


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]


async def rerank_route(scope, receive, send):
    scope["route"] = SimpleNamespace(path="/v1/rerank")  # what the router sets for a matched route
    await PlainTextResponse("ok", headers={"x-request-id": "the-app-s-own"})(scope, receive, send)


def test_should_answer_with_the_requests_id_once():
    response = observed(rerank_route).post("/v1/rerank?x=1", headers={"x-request-id": "caller-42"})
    assert response.headers.get_list("x-request-id") == ["caller-42"]


def test_should_log_the_route_template_and_its_dialect(caplog):
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        observed(rerank_route).post("/v1/rerank", headers={"x-request-id": "caller-43"})
    [line] = access_lines(caplog)
    assert line.startswith("POST /v1/rerank 200 ") and "dialect=cohere" in line
    assert line.endswith("request_id=caller-43")


def test_should_log_a_request_whose_client_hung_up_as_499(caplog):
    async def abandoned(scope, receive, send):
        mark_client_closed(scope)
        await PlainTextResponse("not for anyone")(scope, receive, send)

    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        observed(abandoned).get("/somewhere")
    [line] = access_lines(caplog)
    assert line.startswith("GET unmatched 499 ")
