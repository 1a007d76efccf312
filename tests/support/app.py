"""The real app in-process, engines run directly, and the checks the server tests share."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator

from harness.request_bodies import SEED_REQUEST  # noqa: F401  (the tests' one copy)
from harness.server_process import free_port  # noqa: F401  (the tests' one copy)


def cannot_reach(subject: str) -> None:
    """A test that cannot reach what it checks (a package index, a schema source, a container
    engine) skips with one line, except under CI=true, where it fails: CI is green only when
    everything it claims to check was checked."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {subject}", pytrace=False)
    pytest.skip(subject)


@contextlib.contextmanager
def running_app(**settings_values) -> Iterator:
    """The real app with a real torch engine, in-process, once the model is loaded."""
    from fastapi.testclient import TestClient

    from reranker.app import create_app
    from reranker.config import Settings
    from reranker.engine.factory import start_engine
    from reranker.engine.model_source import resolve_model

    settings = Settings(**{"backend": "torch", **settings_values})
    model = resolve_model(settings)
    app = create_app(settings, lambda: start_engine(settings, model))
    with TestClient(app) as client:
        wait_ready(client)
        yield client


def wait_ready(client, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/v2/health/ready").status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError("model did not load")
        time.sleep(0.05)


def assert_error(response, status: int, message_pattern: str) -> dict:
    """The response is an OpenAI-style error with this status and a message matching the pattern,
    the message repeated under ``detail`` (where Jina's and NVIDIA's clients read it)."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    error = body["error"]
    assert body["detail"] == error["message"]
    assert {"message", "type", "code"} <= set(error)
    assert error["code"] == status
    assert re.search(message_pattern, error["message"]), error["message"]
    return error


def wait_http_ok(url: str, process, output, timeout: float = 120, interval: float = 0.2) -> None:
    """Poll ``url`` until it answers 200; fail the test with ``output()`` if ``process`` (a Popen
    that serves or forwards it) exits first or the time runs out."""
    import httpx
    import pytest

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            if process.poll() is None:
                process.kill()
            pytest.fail(f"{url} did not answer 200 (exit status {process.poll()}):\n{output()[-3000:]}")
        time.sleep(interval)


def run_with_engine(model_path, scenario, **settings_values):
    """``await scenario(engine)`` with a started torch engine serving ``model_path``.

    In float32 unless the test names a dtype: these tests compare scores with float32 references
    to 1e-5, and ``--dtype auto`` picks bfloat16 on CPUs with AMX (some CI machines have it).
    What auto picks is tested in test_precision, how far bfloat16 moves rankings in
    test_bf16_ranking; the app-level helpers (``running_app``) keep the real default."""
    settings_values.setdefault("dtype", "float32")
    import asyncio

    from reranker.config import Settings
    from reranker.engine.model_source import resolve_model
    from reranker.engine.torch_engine import TorchEngine

    async def main():
        settings = Settings(backend="torch", model_id=str(model_path), **settings_values)
        engine = TorchEngine(settings, resolve_model(settings))
        await engine.start()
        try:
            return await scenario(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


def score_with_engine(model_path, pairs, options=None, **settings_values):
    """The torch engine's ScoreResult for ``pairs`` (default options)."""
    from reranker.engine.base import ScoreOptions

    async def scenario(engine):
        return await engine.score(pairs, options or ScoreOptions())

    return run_with_engine(model_path, scenario, **settings_values)
