"""Send the seed's rerank request and a short load to a running server; print scores and throughput.

Standard library only: it runs in the GPU check's fresh environment and on any machine with
Python, with no network beyond the server it measures. ``scripts/gpu-check.sh`` calls it; it can
also be pointed at any server:

    python scripts/gpu_check_load.py --url http://127.0.0.1:8080 --requests 200 --docs 16 --concurrency 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

SEED_REQUEST = {
    "model": "reranker",
    "query": "What is the capital of France?",
    "documents": [
        "Paris is the capital and most populous city of France.",
        "Berlin is the capital and largest city of Germany.",
        "The Eiffel Tower is located in Paris, France.",
        "France is a country in Western Europe.",
    ],
    "top_n": 2,
}
RERANK_PATH = "/openai/v1/rerank"


def post_json(url: str, body: dict, timeout: float = 120) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def wait_ready(base_url: str, timeout: float, server_pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server_pid is not None and not process_alive(server_pid):
            raise RuntimeError(f"the server process {server_pid} exited before it was ready")
        try:
            with urllib.request.urlopen(base_url + "/v2/health/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet, or 503 while the model loads
        if time.monotonic() > deadline:
            raise TimeoutError(f"server at {base_url} not ready after {timeout:.0f} s")
        time.sleep(2)


def load_request(index: int, docs: int, model: str) -> dict:
    """A rerank request with ``docs`` distinct documents of a few dozen tokens each."""
    documents = [
        f"Document {d} of request {index}: " + " ".join(SEED_REQUEST["documents"][(index + d) % 4] for _ in range(3))
        for d in range(docs)
    ]
    return {"model": model, "query": SEED_REQUEST["query"], "documents": documents}


def run_load(base_url: str, requests: int, docs: int, concurrency: int, model: str) -> dict:
    def one(index: int) -> tuple[float, int]:
        started = time.perf_counter()
        answer = post_json(base_url + RERANK_PATH, load_request(index, docs, model))
        if len(answer["results"]) != docs:
            raise RuntimeError(f"request {index}: {len(answer['results'])} results for {docs} documents")
        return time.perf_counter() - started, answer["usage"]["total_tokens"]

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        outcomes = list(pool.map(one, range(requests)))
    elapsed = time.perf_counter() - started
    latencies = sorted(latency for latency, _ in outcomes)
    return {
        "requests": requests,
        "documents_per_request": docs,
        "concurrency": concurrency,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(requests / elapsed, 2),
        "pairs_per_s": round(requests * docs / elapsed, 1),
        "tokens_per_s": round(sum(tokens for _, tokens in outcomes) / elapsed, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL")
    parser.add_argument("--model", default="reranker", help="served model name (--model_name)")
    parser.add_argument("--requests", type=int, default=200, help="load: number of requests")
    parser.add_argument("--docs", type=int, default=16, help="load: documents per request")
    parser.add_argument("--concurrency", type=int, default=16, help="load: requests in flight")
    parser.add_argument("--ready-timeout", type=float, default=900, help="seconds to wait for readiness")
    parser.add_argument("--server-pid", type=int, help="stop waiting if this process exits")
    args = parser.parse_args(argv)

    base_url = args.url.rstrip("/")
    wait_ready(base_url, args.ready_timeout, args.server_pid)
    seed = post_json(base_url + RERANK_PATH, {**SEED_REQUEST, "model": args.model})
    print("seed request:", json.dumps(seed, indent=2))
    top = seed["results"][0]["document"]
    top_text = top["text"] if isinstance(top, dict) else top
    if not top_text.startswith("Paris"):
        print(f"FAIL: the Paris sentence is not ranked first: {top_text!r}", file=sys.stderr)
        return 1
    print("load:", json.dumps(run_load(base_url, args.requests, args.docs, args.concurrency, args.model), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
