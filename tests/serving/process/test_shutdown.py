"""SIGTERM under load loses nothing.

A real server process (embedded model) with clients on keep-alive connections gets SIGTERM:
readiness turns 503 at once, requests keep being served through --drain_seconds, every request
sent before the signal gets an answer (no reset, no 5xx), and the process exits 0 within the
bound the manifests' terminationGracePeriodSeconds is sized from (drain + request_timeout + 5 s).
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import metrics, server_process
from harness import request_bodies as workload
from tests.support.app import assert_error

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROUTE = "/openai/v1/rerank"
GRACE_MARGIN_S = 5  # terminationGracePeriodSeconds = drain_seconds + request_timeout + 5


@dataclass
class Sent:
    at: float  # monotonic time the request was sent
    status: int | None  # None: no answer
    error: str = ""


def server_args(model_dir: Path, *flags: str) -> list[str]:
    # float32 on every CPU: the drain is under test, not the precision, and under make
    # test-fake-amx auto would pick a bfloat16 that a CPU without it emulates several times slower,
    # which overloads the server before the load here is sent.
    return [f"--model_id={model_dir}", "--backend=torch", "--log_level=info", "--dtype=float32", *flags]


def wait_exit(process: subprocess.Popen, signalled_at: float, bound: float) -> int:
    """The exit status, once the process has exited; fails if that is more than ``bound``
    seconds after SIGTERM (sent at monotonic time ``signalled_at``)."""
    try:
        return process.wait(timeout=max(0.0, signalled_at + bound - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.wait()
        pytest.fail(
            f"the server exited {time.monotonic() - signalled_at:.1f} s after SIGTERM, over the "
            f"{bound:g} s (drain + request_timeout + {GRACE_MARGIN_S}) the grace period allows"
        )


def test_sigterm_under_load_keeps_serving_through_the_drain_and_exits_0(minilm_dir, tmp_path):
    drain, deadline = 3.0, 10.0
    flags = server_args(minilm_dir, f"--drain_seconds={drain:g}", f"--request_timeout={deadline:g}")
    server = server_process.Server(flags, tmp_path / "server.log")
    with server:
        url = server.url
        sent: list[Sent] = []
        readiness: list[int | None] = []
        signalled: dict[str, float] = {}

        async def client(index: int, warmed: asyncio.Event) -> None:
            # One keep-alive connection per client, sending until the drain is nearly over (by
            # then Kubernetes has taken the pod out of its endpoints and no new request comes).
            async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=1)) as http:
                n = 0
                while "at" not in signalled or time.monotonic() < signalled["at"] + drain - 0.5:
                    at = time.monotonic()
                    try:
                        response = await http.post(url + ROUTE, json=workload.rerank_body(4, 20, index * 100 + n))
                        sent.append(
                            Sent(at, response.status_code, "" if response.status_code == 200 else response.text)
                        )
                    except httpx.HTTPError as exc:
                        sent.append(Sent(at, None, f"{type(exc).__name__}: {exc}"))
                    n += 1
                    warmed.set()

        async def probe_readiness() -> None:
            # New connections each time, as the kubelet probes: the listener stays open while draining.
            async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as http:
                while time.monotonic() < signalled["at"] + drain - 0.5:
                    try:
                        readiness.append((await http.get(f"{url}/v2/health/ready")).status_code)
                    except httpx.HTTPError:
                        readiness.append(None)
                    await asyncio.sleep(0.1)

        async def scenario() -> None:
            warm = [asyncio.Event() for _ in range(6)]
            clients = [asyncio.create_task(client(i, warm[i])) for i in range(6)]
            await asyncio.gather(*(w.wait() for w in warm))  # every client has its connection open
            server.process.send_signal(signal.SIGTERM)
            signalled["at"] = time.monotonic()
            await probe_readiness()
            await asyncio.gather(*clients)

        asyncio.run(scenario())
        status = wait_exit(server.process, signalled["at"], drain + deadline + GRACE_MARGIN_S)
        exited_after = time.monotonic() - signalled["at"]

    before = [s for s in sent if s.at < signalled["at"]]
    during = [s for s in sent if s.at >= signalled["at"]]
    assert before and during
    assert [s for s in before if s.status != 200] == [], "requests sent before SIGTERM were lost or failed"
    assert [s for s in during if s.status != 200] == [], "requests sent during the drain were lost or failed"
    assert readiness and readiness[0] == 503, f"readiness after SIGTERM: {readiness}"
    assert set(readiness) == {503}, Counter(readiness)
    assert status == 0, server.log()[-3000:]
    assert exited_after >= drain, "the server must keep serving for --drain_seconds"
    assert "Traceback" not in server.log()


def test_sigterm_with_a_deep_queue_answers_every_accepted_request_in_our_shape(minilm_dir, tmp_path):
    # More queued work than the drain and the deadline allow: each request ends in 200, 504 (its
    # deadline) or 429 (shed at admission), never a reset or a plain-text 500.
    # Admission keeps the queue within half the deadline at the measured throughput: a deadline
    # of 6 s leaves room for several requests of 20 documents on a slow CI machine.
    drain, deadline = 1.0, 6.0
    flags = server_args(minilm_dir, f"--drain_seconds={drain:g}", f"--request_timeout={deadline:g}")
    server = server_process.Server(flags, tmp_path / "server.log")
    with server:
        url = server.url

        async def queued() -> float:
            async with httpx.AsyncClient(timeout=10) as http:
                return metrics.metric(
                    metrics.parse_metrics((await http.get(f"{url}/metrics")).text), "reranker_queue_requests"
                )

        async def scenario() -> tuple[list[httpx.Response], list[str]]:
            failures: list[str] = []

            async def one(index: int) -> httpx.Response | None:
                async with httpx.AsyncClient(timeout=60) as http:
                    try:
                        return await http.post(url + ROUTE, json=workload.rerank_body(20, 30, index))
                    except httpx.HTTPError as exc:
                        failures.append(f"request {index}: {type(exc).__name__}: {exc}")
                        return None

            tasks = [asyncio.create_task(one(i)) for i in range(40)]
            wait_until = time.monotonic() + 60
            while await queued() < 4:  # a queue when the signal comes
                assert time.monotonic() < wait_until and not all(t.done() for t in tasks), "the queue never filled"
                await asyncio.sleep(0.05)
            server.process.send_signal(signal.SIGTERM)
            signalled["at"] = time.monotonic()
            responses = [r for r in await asyncio.gather(*tasks) if r is not None]
            return responses, failures

        signalled: dict[str, float] = {}
        responses, failures = asyncio.run(scenario())
        status = wait_exit(server.process, signalled["at"], drain + deadline + GRACE_MARGIN_S)

    assert failures == [], "requests sent before SIGTERM got no answer"
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {200, 429, 504}, statuses
    for response in responses:
        if response.status_code != 200:
            assert_error(response, response.status_code, r"--request_timeout|--max_queued_pairs")
    assert status == 0, server.log()[-3000:]
    assert "Traceback" not in server.log()
