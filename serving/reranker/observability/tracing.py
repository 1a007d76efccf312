"""Traces over OTLP with the OpenTelemetry SDK, on only when an endpoint is configured.

On: ``--otlp_traces_endpoint``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``. The protocol comes from ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``
or ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``http/protobuf`` by default, or ``grpc``); the SDK itself
reads the rest of the standard variables (service name, resource attributes, sampler, batch
processor). Off, nothing of OpenTelemetry is imported and every helper here costs one check of a
module global.

No span or attribute holds query or document text, and exceptions are not recorded on spans
(their messages may quote a client's input): a failed span has an error status only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
DEFAULT_SERVICE_NAME = "kserve-reranker"

_tracer: Any = None  # an opentelemetry Tracer once set_up() ran; None: tracing is off
_provider: Any = None
_NO_SPAN = contextlib.nullcontext()
# The SDK would record an exception's message (which may quote client input) as an event and as
# the status description: spans get a bare error status instead (see _guarded).
_QUIET = {"record_exception": False, "set_status_on_exception": False}


def wanted(endpoint_flag: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    return bool(endpoint_flag) or any(environ.get(name) for name in _ENDPOINT_VARIABLES)


def protocol(environ: Mapping[str, str] = os.environ) -> str:
    for name in _PROTOCOL_VARIABLES:
        if environ.get(name):
            return environ[name].strip().lower()
    return "http/protobuf"


def set_up(endpoint_flag: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting traces if an endpoint is configured; whether it did."""
    global _tracer, _provider
    if not wanted(endpoint_flag, environ):
        return False
    # Imported here: a server without an endpoint never loads OpenTelemetry.
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    kind = protocol(environ)
    if kind == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    elif kind == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # type: ignore[assignment]
    else:
        raise ValueError(f"unsupported OTLP protocol {kind!r}: use http/protobuf or grpc")
    exporter = OTLPSpanExporter(endpoint=endpoint_flag) if endpoint_flag else OTLPSpanExporter()
    # The SDK reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours is the default name.
    named = "OTEL_SERVICE_NAME" in environ or "service.name" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": DEFAULT_SERVICE_NAME})
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _provider = provider
    _tracer = provider.get_tracer("reranker")
    log.info("tracing on: OTLP over %s", kind)
    return True


def shut_down() -> None:
    """Send the spans still buffered (the process exits without running atexit hooks)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def enabled() -> bool:
    return _tracer is not None


def server_span(name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Mapping[str, Any]):
    """The request's server span, continuing the caller's trace (W3C traceparent/tracestate)."""
    if _tracer is None:
        return _NO_SPAN
    from opentelemetry import propagate, trace

    carrier = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in headers}
    return _tracer.start_as_current_span(
        name,
        context=propagate.extract(carrier),
        kind=trace.SpanKind.SERVER,
        attributes=attributes,
        **_QUIET,
    )


def span(name: str, attributes: Mapping[str, Any] | None = None):
    """A child span of the current one (nothing when tracing is off)."""
    if _tracer is None:
        return _NO_SPAN
    return _guarded(_tracer.start_as_current_span(name, attributes=attributes, **_QUIET))


def current_span_context() -> Any:
    """The current span's context, for a batch span to link to (None when off or outside a span)."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return context if context.is_valid else None


def batch_span(name: str, attributes: Mapping[str, Any], requests: Sequence[Any]):
    """A span for work that serves several requests: a root span linked to each request's span
    (one batch has many parents, which a parent-child tree cannot say)."""
    if _tracer is None:
        return _NO_SPAN
    from opentelemetry import context, trace

    unique = list({(c.trace_id, c.span_id): c for c in requests if c is not None}.values())
    opened = _tracer.start_as_current_span(
        name,
        context=context.Context(),  # a root: the batch belongs to no one request
        kind=trace.SpanKind.INTERNAL,
        attributes=attributes,
        links=[trace.Link(c) for c in unique],
        **_QUIET,
    )
    return _guarded(opened)


def ids(span_object: Any) -> tuple[str, str] | None:
    """(trace id, span id) of a span in hex, for log lines; None without a valid span."""
    if span_object is None:
        return None
    context = span_object.get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def set_attributes(span_object: Any, attributes: Mapping[str, Any], error: bool = False) -> None:
    if span_object is None:
        return
    span_object.set_attributes({k: v for k, v in attributes.items() if v is not None})
    if error:
        from opentelemetry.trace import Status, StatusCode

        span_object.set_status(Status(StatusCode.ERROR))


@contextlib.contextmanager
def _guarded(opened):
    """``opened`` (a span context manager), its span marked failed by an exception's type only."""
    with opened as span_object:
        try:
            yield span_object
        except BaseException as exc:
            from opentelemetry.trace import Status, StatusCode

            span_object.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
