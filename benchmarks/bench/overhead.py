"""The serving overhead on the seed request: one request at a time, alternately in-process and
through our server, each pair's difference. The two halves of a pair are milliseconds apart and
share the machine's state, so this resolves a millisecond of overhead where rounds of seconds,
which drift by 15-20% on a shared VM, cannot."""

from __future__ import annotations

import time

from benchmarks import loadgen
from benchmarks.bench.in_process import LoadedInProcess
from benchmarks.bench.servers import LoadedServer, check_answer
from benchmarks.bench.workloads import Workload


def interleaved_overhead(in_process: LoadedInProcess, server: LoadedServer, workload: Workload, seconds: float) -> dict:
    """The workload's first request, one at a time, alternately in-process and through the server
    (which goes first swaps each pair), for ``seconds``: each pair's server latency minus its
    in-process latency."""
    body, request = workload.bodies[0], server.requests[workload.name][0]
    connection = loadgen.Connection(server.server.url)
    answers: list[tuple[int, bytes]] = []

    def in_process_call() -> float:
        started = time.perf_counter()
        in_process.engine.score([body])
        return time.perf_counter() - started

    def server_call() -> float:
        started = time.perf_counter()
        answer = connection.exchange(request)
        elapsed = time.perf_counter() - started
        answers.append(answer)
        return elapsed

    pairs: list[tuple[float, float]] = []  # (in-process, server) seconds
    try:
        for _ in range(3):  # warm-up
            in_process_call()
            server_call()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if len(pairs) % 2:
                alone = in_process_call()
                served = server_call()
            else:
                served = server_call()
                alone = in_process_call()
            pairs.append((alone, served))
    finally:
        connection.close()
    for status, answer in answers:
        check_answer(workload, status, answer)

    def quantiles(values: list[float]) -> list[float]:
        ordered = sorted(values)
        return [round(1000 * loadgen.percentile(ordered, q), 2) for q in (25, 50, 75)]

    difference = quantiles([served - alone for alone, served in pairs])
    return {
        "workload": workload.name,
        "pairs": len(pairs),
        "in_process_p50_ms": quantiles([alone for alone, _ in pairs])[1],
        "server_p50_ms": quantiles([served for _, served in pairs])[1],
        "overhead_ms": dict(zip(("p25", "p50", "p75"), difference)),
    }
