"""Under load, a real server process answers every request and computes no abandoned work.

Each test starts ``python -m reranker`` with the embedded model (all-MiniLM-L6-v2) and drives it
over real connections. Nothing here asserts a duration: the proof is in the status codes, the
error bodies and the server's own counters.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from harness import metrics, server_process
from harness import request_bodies as workload
from tests.support.app import assert_error

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

ROUTE = "/openai/v1/rerank"
SHED = "reranker_requests_shed_total"
EXPIRED = "reranker_requests_expired_total"
CANCELLED = "reranker_requests_cancelled_total"
DOCUMENTS = "reranker_documents_scored_total"
MODEL_ITEMS = "reranker_batch_size_sum"  # pairs or texts the model actually ran
QUEUED = "reranker_queue_requests"


def server_args(model_dir: Path, *flags: str) -> list[str]:
    return [f"--model_id={model_dir}", "--backend=torch", "--log_level=warning", *flags]


async def clients(url: str, count: int, requests_each: int, documents: int) -> tuple[list[httpx.Response], list[str]]:
    """``count`` clients at once, each on its own keep-alive connection sending ``requests_each``
    seed-shaped requests in a row: every response, and every request that got none."""
    responses: list[httpx.Response] = []
    failures: list[str] = []

    async def client(index: int) -> None:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=1)) as http:
            for n in range(requests_each):
                try:
                    responses.append(
                        await http.post(url + ROUTE, json=workload.rerank_body(documents, 30, index * 7 + n))
                    )
                except httpx.HTTPError as exc:
                    failures.append(f"client {index} request {n}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(client(i) for i in range(count)))
    return responses, failures


def test_overload_answers_every_request_with_200_or_429_or_504_in_our_shape(minilm_dir, tmp_path):
    # Room for five requests' pairs and a 4 s deadline, against 48 clients at once (what is
    # admitted takes well under a second of model time, so some requests must succeed).
    flags = server_args(minilm_dir, "--max_queued_pairs=25", "--request_timeout=4")
    with server_process.Server(flags, tmp_path / "server.log") as server:
        before = metrics.scrape(server.url)
        responses, failures = asyncio.run(clients(server.url, count=48, requests_each=3, documents=5))
        after = metrics.scrape(server.url)
        health = httpx.get(f"{server.url}/v2/health/ready", timeout=10)

    assert failures == [], "requests without an answer (connection refused, reset or closed)"
    statuses = Counter(r.status_code for r in responses)
    assert len(responses) == 48 * 3
    assert set(statuses) <= {200, 429, 504}, statuses
    assert statuses[200] > 0, "the server must keep serving while it sheds"
    for response in responses:
        if response.status_code == 429:
            assert_error(response, 429, r"--max_queued_pairs|--request_timeout")
            assert response.headers.get("retry-after", "").isdigit(), response.headers
            assert int(response.headers["retry-after"]) >= 1
        elif response.status_code == 504:
            assert_error(response, 504, r"--request_timeout")
    shed = metrics.metric(after, SHED) - metrics.metric(before, SHED)
    assert shed > 0
    assert shed == statuses[429], "every 429 is counted as shed, and nothing else is"
    assert metrics.metric(after, EXPIRED) - metrics.metric(before, EXPIRED) == statuses[504]
    assert metrics.metric(after, QUEUED) == 0 and metrics.metric(after, "reranker_queue_pairs") == 0
    assert health.status_code == 200


async def abandon_behind_a_long_request(url: str, blocker: dict, abandoned: list[dict]) -> httpx.Response:
    """Send ``blocker`` (long enough to keep the model busy), then ``abandoned`` each on its own
    connection; once the server has admitted all of them, their clients give up (close their
    connections) while the blocker is still being computed. The blocker's response."""

    async def queued() -> float:
        async with httpx.AsyncClient(timeout=10) as http:
            return metrics.metric(metrics.parse_metrics((await http.get(f"{url}/metrics")).text), QUEUED)

    async def wait_queued(count: int) -> None:
        deadline = time.monotonic() + 120
        while await queued() < count:
            assert time.monotonic() < deadline, f"the server never had {count} requests admitted"
            await asyncio.sleep(0.05)

    async def give_up_later(body: dict) -> None:
        async with httpx.AsyncClient(timeout=120) as http:  # leaving the block closes the connection
            await http.post(url + ROUTE, json=body)

    async with httpx.AsyncClient(timeout=300) as http:
        blocking = asyncio.create_task(http.post(url + ROUTE, json=blocker))
        await wait_queued(1)
        clients = [asyncio.create_task(give_up_later(body)) for body in abandoned]
        await wait_queued(1 + len(abandoned))
        assert not blocking.done(), "the blocking request finished too soon to prove anything: make it larger"
        for client in clients:
            client.cancel()  # the client gives up, as a client-side timeout does
        await asyncio.gather(*clients, return_exceptions=True)
        response = await blocking
    assert all(client.cancelled() for client in clients), "an abandoned request was answered before its client left"
    return response


def test_work_of_clients_that_gave_up_is_dropped_not_computed(minilm_dir, tmp_path):
    abandoned_count, documents_each, blocking_documents = 8, 20, 600
    # Distinct documents: seconds of model time, however fast the machine (the deadline is raised
    # so that a slow one finishes them too: deadlines are the other test's subject).
    blocker = {
        "query": "what is the capital of france",
        "documents": [f"document {i}: " + d for i, d in enumerate(workload.make_documents(blocking_documents, 30, 3))],
    }
    abandoned = [workload.rerank_body(documents_each, 30, 100 + i) for i in range(abandoned_count)]
    with server_process.Server(server_args(minilm_dir, "--request_timeout=300"), tmp_path / "server.log") as server:
        before = metrics.scrape(server.url)
        blocked = asyncio.run(abandon_behind_a_long_request(server.url, blocker, abandoned))
        assert blocked.status_code == 200, blocked.text

        deadline = time.monotonic() + 60  # the server counts a cancellation when it sees the connection close
        while (
            metrics.metric(after := metrics.scrape(server.url), CANCELLED) - metrics.metric(before, CANCELLED)
            < abandoned_count
        ):
            assert time.monotonic() < deadline, "the server did not notice that the clients left"
            time.sleep(0.1)
        following = httpx.post(server.url + ROUTE, json=workload.rerank_body(documents_each, 30, 1), timeout=120)
        final = metrics.scrape(server.url)

    assert following.status_code == 200, following.text
    assert metrics.metric(after, CANCELLED) - metrics.metric(before, CANCELLED) == abandoned_count
    # Scored: the blocker and the following request, nothing of the abandoned ones.
    assert metrics.metric(final, DOCUMENTS) - metrics.metric(before, DOCUMENTS) == blocking_documents + documents_each
    # What the model ran: the distinct texts of those two (documents plus at most the query each);
    # any one abandoned request computed would add its 20 documents.
    computed = metrics.metric(final, MODEL_ITEMS) - metrics.metric(before, MODEL_ITEMS)
    assert blocking_documents + documents_each <= computed <= blocking_documents + documents_each + 2
    assert metrics.metric(final, QUEUED) == 0 and metrics.metric(final, "reranker_queue_pairs") == 0
    assert "Traceback" not in server.log()
