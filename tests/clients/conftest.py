"""The real-client suite's server: ``reranker-server`` with default flags (the embedded
all-MiniLM-L6-v2, model name ``reranker``), started once from the project's own .venv
(RERANKER_SERVER_PYTHON; make test-clients sets it) while the clients run from .venv-clients."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.app import SEED_REQUEST, free_port, wait_http_ok


@pytest.fixture(scope="session")
def base_url(tmp_path_factory):
    python = os.environ.get("RERANKER_SERVER_PYTHON", sys.executable)
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [python, "-m", "reranker", "--http_port", str(port), "--host", "127.0.0.1"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).parent,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http_ok(f"{url}/v2/health/ready", server, log.read_text, timeout=300)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="session")
def raw_ranking(base_url) -> list[int]:
    """Every document's index, best first, from a plain HTTP call: what every client must return."""
    request = {**SEED_REQUEST, "top_n": None}
    body = httpx.post(f"{base_url}/openai/v1/rerank", json=request, timeout=60).json()
    return [r["index"] for r in body["results"]]
