"""Health and model readiness, as KServe's runtimes answer them (v1 and v2 protocols)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from .errors import APIError
from .state import ServerState, get_state, ready_engine

router = APIRouter(tags=["health"])


@router.get("/v2/health/live", summary="The process serves HTTP")
async def live() -> dict:
    return {"live": True}


@router.get("/v2/health/ready", summary="The model is loaded (503 until then, and from SIGTERM on)")
async def ready(_: object = Depends(ready_engine), state: ServerState = Depends(get_state)) -> dict:
    if state.draining:
        # Scoring still works while draining; readiness tells Kubernetes to send no more.
        raise APIError(503, "server is shutting down (SIGTERM): draining")
    return {"ready": True}


def _known(name: str, state: ServerState) -> None:
    state.check_model_name(name, param=None)


@router.get("/v1/models/{name}", summary="KServe v1 model status (503 until loaded)")
async def v1_model(name: str, state: ServerState = Depends(get_state)) -> JSONResponse:
    _known(name, state)
    return JSONResponse({"name": name, "ready": state.ready}, status_code=200 if state.ready else 503)


@router.get("/v2/models/{name}/ready", summary="KServe v2 model readiness (503 until loaded)")
async def v2_model_ready(name: str, state: ServerState = Depends(get_state)) -> JSONResponse:
    _known(name, state)
    return JSONResponse({"name": name, "ready": state.ready}, status_code=200 if state.ready else 503)
