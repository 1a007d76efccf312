"""What is known about the request being served, for its log line and its span.

``Observe`` (observe.py) sets a fresh ``RequestRecord`` for each request; the API adds what
only it knows (dialect, documents, tokens) through ``note_dialect`` and ``count``. Tasks the
request starts inherit the record (contextvars are copied into new tasks), and the record is
mutable, so what they note reaches the middleware.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class RequestRecord:
    request_id: str
    method: str
    path: str
    route: str = "unmatched"
    dialect: str | None = None
    status: int = 500
    documents: int = 0
    tokens: int = 0
    span: Any = None  # the server span, when tracing is on


_current: ContextVar[RequestRecord | None] = ContextVar("reranker_request", default=None)


def current() -> RequestRecord | None:
    return _current.get()


def begin(record: RequestRecord):
    """Make ``record`` the current request's; returns the token ``end`` takes."""
    return _current.set(record)


def end(token) -> None:
    _current.reset(token)


def note_dialect(dialect: str) -> None:
    record = _current.get()
    if record is not None:
        record.dialect = dialect


def count(documents: int, tokens: int) -> None:
    """Documents scored and tokens read for the current request (a request may score twice)."""
    record = _current.get()
    if record is not None:
        record.documents += documents
        record.tokens += tokens
