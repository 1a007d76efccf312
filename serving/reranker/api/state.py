"""What the routes share: settings, metrics, and the engine once it has loaded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import Request

from ..config import Settings
from ..engine.base import Engine
from ..metrics import Metrics
from .admission import Admission
from .errors import APIError


@dataclass
class ServerState:
    settings: Settings
    metrics: Metrics
    engine: Engine | None = None
    load_error: str | None = None
    started_at: int = field(default_factory=lambda: int(time.time()))
    draining: bool = False  # SIGTERM received: readiness 503 while the server drains
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        self.metrics.queue_pairs_limit.set(self.settings.max_queued_pairs)
        self.metrics.request_timeout.set(self.settings.request_timeout)
        self.admission = Admission(
            self.settings.max_queued_pairs, self.settings.request_timeout, self.metrics, self.settings.max_queued_chars
        )

    @property
    def ready(self) -> bool:
        return self.engine is not None and not self.draining

    def start_draining(self) -> None:
        self.draining = True
        self.metrics.draining.set(1)

    def check_model_name(self, requested: str | None, param: str | None = "model") -> None:
        """404 for a model name this server does not answer to (None: any client default)."""
        names = self.settings.served_model_names
        if requested is not None and requested not in names:
            served = " or ".join(repr(n) for n in names)
            raise APIError(404, f"model {requested!r} not found: this server serves {served} (--model_name)", param)


# Dependencies are coroutines: FastAPI runs a plain ``def`` dependency in its thread pool, a
# thread hand-off per request for what is an attribute lookup.
async def get_state(request: Request) -> ServerState:
    return request.app.state.server


async def ready_engine(request: Request) -> Engine:
    """The loaded engine, or 503 while it is still loading (or failed to)."""
    return loaded_engine(request.app.state.server)


def loaded_engine(state: ServerState) -> Engine:
    """``state``'s engine, or 503 while it is still loading (or failed to)."""
    if state.engine is None:
        reason = f"failed to load: {state.load_error}" if state.load_error else "is still loading"
        raise APIError(503, f"model {state.settings.served_model_name!r} {reason}")
    return state.engine
