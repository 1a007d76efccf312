"""The real server in a subprocess, its memory read from /proc: concurrent 15 MB documents stay
under the cpu overlay's memory limit, and the memory a large request used goes back to the system
once the server is idle."""

from __future__ import annotations

import concurrent.futures
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harness.peak_memory import overlay_memory_limit, proc_status, reset_peak
from tests.support.app import assert_error, free_port, wait_http_ok

MIB = 1 << 20


def memory_limit_bytes() -> int:
    """The cpu overlay's memory limit (the base's; the overlay does not change it)."""
    return overlay_memory_limit("cpu")


# The cpu overlay serves bge-reranker-base, whose float32 weights take about 1.1 GB more than
# the embedded MiniLM's: the server here must stay that far below the limit.
OVERLAY_MODEL_EXTRA_BYTES = 1200 * MIB


class Server:
    def __init__(self, process: subprocess.Popen, base: str):
        self.process, self.base = process, base

    def status(self) -> dict[str, int]:
        return proc_status(self.process.pid)

    def reset_peak(self) -> None:
        reset_peak(self.process.pid)  # VmHWM := VmRSS

    def rerank(self, query: str, documents: list[str], timeout: float = 180) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/rerank", json={"query": query, "documents": documents}, timeout=timeout)


@pytest.fixture
def server_process(tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("reads peak RSS from /proc")
    started = []

    def start(model_dir) -> Server:
        port = free_port()
        log = (tmp_path / f"server-{port}.log").open("w")
        env = {**os.environ, "RERANKER_REQUEST_TIMEOUT": "300"}  # a slow CI machine is not what we test
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reranker",
                f"--model_id={model_dir}",
                "--backend=torch",
                f"--http_port={port}",
                "--host=127.0.0.1",
                "--log_level=warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/v2/health/ready", process, lambda: Path(log.name).read_text())
        return Server(process, base)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def words_text(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)
    ]
    text = " ".join(rng.choices(vocabulary, k=chars // 5 + 16))
    while len(text) < chars:
        text += " " + text
    return text[:chars]


@pytest.mark.slow
def test_four_concurrent_15_mb_documents_stay_under_the_cpu_overlays_memory_limit(server_process, minilm_dir):
    server = server_process(minilm_dir)
    server.rerank("capital of france", ["warm-up"])
    documents = [words_text(15_000_000, seed) for seed in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda d: server.rerank("capital of france", [d]), documents))
    peak = server.status()["VmHWM"]
    # Four 15 MB bodies pass the default --max_concurrent_body_bytes (48 MiB): a fourth that
    # arrives while three are in progress is refused before its body is read.
    answered = [r for r in responses if r.status_code == 200]
    assert len(answered) >= 3, [r.text[:200] for r in responses]
    for response in responses:
        if response.status_code == 200:
            assert response.json()["usage"]["total_tokens"] == 5 + 256  # [CLS] q [SEP], the document cut to 256
        else:
            assert_error(response, 429, r"--max_concurrent_body_bytes")
    assert peak + OVERLAY_MODEL_EXTRA_BYTES < memory_limit_bytes(), f"peak RSS {peak / MIB:.0f} MiB"
    # A 15 MB query is refused having read only a prefix of it: no new peak.
    refused = server.rerank("word " * 3_000_000, ["paris"])
    assert_error(refused, 400, r"query is too long")
    assert server.status()["VmHWM"] + OVERLAY_MODEL_EXTRA_BYTES < memory_limit_bytes()


@pytest.mark.slow
def test_memory_goes_back_to_the_system_when_the_server_is_idle(server_process, tiny_cross_encoder_dir):
    server = server_process(tiny_cross_encoder_dir)
    server.rerank("capital of france", ["warm-up"])
    time.sleep(2)
    idle = server.status()["VmRSS"]
    server.reset_peak()
    documents = [words_text(16_000, seed) for seed in range(1000)]  # a 16 MB body
    response = server.rerank("capital of france", documents)
    assert response.status_code == 200, response.text[:300]
    peak = server.status()["VmHWM"]
    grown = peak - idle
    assert grown > 50 * MIB, f"the request should have used memory (RSS grew {grown / MIB:.0f} MiB)"
    deadline = time.monotonic() + 15
    while (kept := server.status()["VmRSS"] - idle) > grown / 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kept <= grown / 2, f"idle RSS {kept / MIB:.0f} MiB above what it was (peak +{grown / MIB:.0f})"
