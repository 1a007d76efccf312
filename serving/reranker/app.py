"""The FastAPI application: routes, error handling, metrics, and loading the engine.

The app answers HTTP at once and loads the model in the background, so that liveness
succeeds while readiness (and every scoring route) answers 503 until the weights are in.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.middleware.cors import CORSMiddleware

from . import __version__
from .api import dialects, health, model_list, score
from .api.admission import work_of
from .api.auth import APIKeyAuth
from .api.errors import install_error_handlers
from .api.openapi import install_openapi
from .api.ranking import max_chars_per_pair
from .api.request_guards import BodyLimits, CancelOnDisconnect, ErrorGuard, RequestLimits, ShedWhenFull
from .api.state import ServerState
from .config import Settings
from .engine.base import Engine, ScoreOptions, TruncationPolicy
from .metrics import Metrics
from .observability.observe import Observe
from .observability.request_id import HEADER as REQUEST_ID_HEADER
from .observability.request_metrics import RequestMetrics

log = logging.getLogger(__name__)

EngineLoader = Callable[[], Awaitable[Engine]]


# A warm-up batch shaped like a typical rerank request: 64 pairs of a short query and a distinct
# ~60-word passage (distinct: an embedding model embeds each distinct text once). Timed on its
# second run (the first pays one-off set-up costs).
_WARM_UP_PAIRS = [
    ("what does the warm-up query ask about", f"passage {i}: " + " ".join(["a warm-up passage of plain words"] * 10))
    for i in range(64)
]


async def measure_capacity(engine: Engine) -> float:
    """Work per second of one batch (see admission.work_of): the first throughput figure
    admission control uses."""
    options = ScoreOptions(truncation=TruncationPolicy.TRUNCATE)
    await engine.score(_WARM_UP_PAIRS, options)
    start = time.perf_counter()
    await engine.score(_WARM_UP_PAIRS, options)
    work = work_of(_WARM_UP_PAIRS, max_chars_per_pair(engine, options, "truncate"))
    return work / max(time.perf_counter() - start, 1e-6)


# FastAPI's own OpenTelemetry spans, metrics and logs (in newer releases) are turned off: the
# server span is Observe's (observability/), which carries our attributes and never any text.
_NO_NATIVE_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def create_app(
    settings: Settings,
    load_engine: EngineLoader,
    on_load_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    state = ServerState(settings, Metrics())

    async def load() -> None:
        try:
            engine = await load_engine()
        except Exception as exc:
            state.load_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("could not load the model: %s", state.load_error)
            if on_load_failure is not None:
                on_load_failure(state.load_error)
            return
        engine.set_batch_observer(state.metrics.observe_batch)
        try:
            rate = await asyncio.wait_for(measure_capacity(engine), settings.request_timeout)
        except Exception as exc:  # a model that cannot score fails its first request instead
            log.warning("warm-up batch failed: %s", str(exc) or type(exc).__name__)
        else:
            state.admission.calibrate(rate)
            log.info("warm-up: about %.0f characters/s (a first figure for admission control)", rate)
        state.engine = engine
        log.info("model %r is ready (%s engine)", settings.served_model_name, engine.info.backend)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        loading = asyncio.create_task(load(), name="load-model")
        try:
            yield
        finally:
            loading.cancel()
            if state.engine is not None:
                await state.engine.stop()

    docs: dict[str, Any] = (
        {} if not settings.disable_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    )
    app = FastAPI(
        title="kserve-reranker",
        version=__version__,
        summary="Rerank documents against a query with a cross-encoder or an embedding model.",
        lifespan=lifespan,
        **docs,
        **_NO_NATIVE_TELEMETRY,
    )
    app.state.server = state
    install_error_handlers(app)
    install_openapi(app, settings)
    for router in (*dialects.ROUTERS, score.router, health.router, model_list.router):
        app.include_router(router)

    @app.get("/metrics", tags=["metrics"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # Added innermost first: Observe ends up outermost, so every answer carries the request id;
    # CORS is outside the API key check and ErrorGuard, so preflights and errors carry its headers.
    app.add_middleware(RequestLimits, max_documents=settings.max_documents)
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    app.add_middleware(CancelOnDisconnect, on_cancel=state.metrics.cancelled.inc)
    app.add_middleware(
        ShedWhenFull,
        admission=state.admission,
        max_concurrent=settings.max_concurrent_requests,
        max_body_bytes=settings.max_body_bytes,
        max_body_bytes_held=settings.max_concurrent_body_bytes,
    )
    if settings.api_keys:
        app.add_middleware(APIKeyAuth, keys=settings.api_keys, protect_metrics=settings.protect_metrics)
    app.add_middleware(ErrorGuard, draining=lambda: state.draining)
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER.decode(), "retry-after"],
        )
    app.add_middleware(Observe, dialects=dialects.DIALECT_OF_ROUTE, access_log=settings.access_log)
    return app
