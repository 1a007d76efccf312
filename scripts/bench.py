#!/usr/bin/env python3
"""Measure the rerank server: throughput and latency under concurrent load.

Starts the real server process (or uses --url), waits for readiness, warms up, then sends
--requests rerank requests of --documents documents each, --concurrency at a time, and prints
pairs per second and latency percentiles. Runs each concurrency in --concurrency as its own
round, so the effect of dynamic batching shows (concurrency 1 has nothing to batch).

    make bench
    make bench BENCH_ARGS='--concurrency 1 16 --server-args "--dtype bfloat16"'
    python scripts/bench.py --url http://localhost:8080 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import sys
import time

import httpx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402  (shared with soak.py and the tests)
from loadgen import WORDS, make_documents  # noqa: E402


async def run_round(url: str, requests: int, concurrency: int, documents: int, words: int) -> dict:
    latencies: list[float] = []
    tokens = 0
    queue = list(range(requests))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal tokens
        while queue:
            i = queue.pop()
            body = {"query": f"what is the capital of {WORDS[i % len(WORDS)]}",
                    "documents": make_documents(documents, words, i), "return_documents": False}
            start = time.perf_counter()
            response = await http.post(f"{url}/openai/v1/rerank", json=body)
            latencies.append(time.perf_counter() - start)
            response.raise_for_status()
            tokens += response.json()["usage"]["total_tokens"]

    async with httpx.AsyncClient(timeout=600) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "requests": requests,
        "documents_per_request": documents,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 2),
        "pairs_per_s": round(requests * documents / elapsed, 1),
        "tokens_per_s": round(tokens / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="Benchmark a running server instead of starting one.")
    parser.add_argument("--server-args", default=os.environ.get("BENCH_SERVER_ARGS", "--backend torch"),
                        help="Flags for the server this starts (default: %(default)s; embedded model).")
    parser.add_argument("--requests", type=int, default=64, help="Requests per round (default: %(default)s).")
    parser.add_argument("--documents", type=int, default=32, help="Documents per request (default: %(default)s).")
    parser.add_argument("--words", type=int, default=40, help="Words per document (default: %(default)s).")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8],
                        help="One round per value (default: %(default)s).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object instead of a table.")
    args = parser.parse_args()

    server = None
    url = args.url
    if url is None:
        server = loadgen.Server(["--log_level", "warning", *shlex.split(args.server_args)])
        url = server.url
    try:
        try:
            loadgen.wait_ready(url, server and server.process, output=server and server.log)
        except RuntimeError as exc:
            sys.exit(f"bench: {exc}")
        asyncio.run(run_round(url, 4, 2, args.documents, args.words))  # warm-up
        rounds = [asyncio.run(run_round(url, args.requests, c, args.documents, args.words)) for c in args.concurrency]
    finally:
        if server is not None:
            server.stop(timeout=30)
    if args.json:
        print(json.dumps({"server_args": args.server_args if not args.url else None, "rounds": rounds}, indent=2))
        return
    print(f"server: {args.url or args.server_args}")
    columns = ["concurrency", "requests_per_s", "pairs_per_s", "tokens_per_s", "latency_p50_ms", "latency_p95_ms"]
    print("  ".join(f"{c:>15}" for c in columns))
    for row in rounds:
        print("  ".join(f"{row[c]:>15}" for c in columns))


if __name__ == "__main__":
    main()
