"""Log lines: plain text for people, or one JSON object per line for log collectors.

Every logger goes through the one handler set up here, uvicorn's included (it is started with
no logging configuration of its own), and Python warnings too, so in JSON mode every line the
server prints parses. A line written while a request is served carries its request id (and
trace and span ids when tracing is on). The access log (``reranker.access``) has one line per
request. No line holds query or document text: errors name fields, never their contents.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any

from . import context, tracing

ACCESS_LOGGER = "reranker.access"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields of an access line (set as ``extra={"access": {...}}``), in this order in JSON.
ACCESS_FIELDS = ("route", "method", "dialect", "status", "duration_ms", "documents", "tokens")


class RequestIds(logging.Filter):
    """Stamp each record with the current request's id and trace ids (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = context.current()
        record.request_id = current.request_id if current is not None else None
        ids = tracing.ids(current.span) if current is not None else None
        record.trace_id, record.span_id = ids if ids is not None else (None, None)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "trace_id", "span_id"):
            value = getattr(record, key, None)
            if value is not None:
                line[key] = value
        access = getattr(record, "access", None)
        if access:
            line.update((key, access[key]) for key in ACCESS_FIELDS if access.get(key) is not None)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        # ensure_ascii: a message quoting invalid Unicode still writes.
        return json.dumps(line, ensure_ascii=True, default=str)


def _utc(created: float) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
    return f"{seconds}.{int(created % 1 * 1000):03d}Z"


def configure(level: str, log_format: str) -> None:
    """One handler on stderr for every logger, in ``log_format`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIds())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    logging.captureWarnings(True)  # warnings.warn output as log lines, not raw stderr
    if log_format == "json":
        # Progress bars (model loading) are terminal output, not log lines.
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    _through_our_handler(log_format)


def _through_our_handler(log_format: str) -> None:
    """transformers writes to its own stderr handler: route it through ours instead."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_default_handler()
    transformers_logging.enable_propagation()
    if log_format == "json":
        transformers_logging.disable_progress_bar()


def access_line(record: context.RequestRecord, duration_s: float) -> None:
    """The request's access log line."""
    fields = {
        "route": record.route,
        "method": record.method,
        "dialect": record.dialect,
        "status": record.status,
        "duration_ms": round(duration_s * 1000, 2),
        "documents": record.documents,
        "tokens": record.tokens,
    }
    message = f"{record.method} {record.route} {record.status} {fields['duration_ms']} ms"
    if record.dialect:
        message += f" dialect={record.dialect} documents={record.documents} tokens={record.tokens}"
    message += f" request_id={record.request_id}"
    logging.getLogger(ACCESS_LOGGER).info(message, extra={"access": fields})
