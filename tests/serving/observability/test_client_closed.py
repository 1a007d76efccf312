"""A request whose client hung up (observability/client_closed.py): marked in its scope, read
from it by whatever reports the request, as nginx's 499."""

from __future__ import annotations

from reranker.observability.client_closed import CLIENT_CLOSED, client_closed, mark_client_closed


def test_a_request_should_read_as_closed_by_its_client_once_marked_and_only_then():
    scope = {"type": "http", "method": "POST", "path": "/v1/rerank"}
    assert not client_closed(scope)
    mark_client_closed(scope)
    assert client_closed(scope)
    assert not client_closed({"type": "http", "method": "POST", "path": "/v1/rerank"})  # another request


def test_should_report_it_as_nginxs_client_closed_request():
    assert CLIENT_CLOSED == 499
