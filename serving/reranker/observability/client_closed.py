"""A request whose client hung up before its answer: ``CancelOnDisconnect`` (api/request_guards.py)
marks its ASGI scope, and what reports the request (its metrics, its log line and span) reads the
mark and reports ``CLIENT_CLOSED`` instead of a status that was never sent.

The scope key is this module's: the api layer sets it through ``mark_client_closed``.
"""

from __future__ import annotations

from starlette.types import Scope

CLIENT_CLOSED = 499  # nginx's status for "the client closed the connection first"
_CLIENT_CLOSED_KEY = "reranker.cancelled"


def mark_client_closed(scope: Scope) -> None:
    scope[_CLIENT_CLOSED_KEY] = True


def client_closed(scope: Scope) -> bool:
    return bool(scope.get(_CLIENT_CLOSED_KEY))
