"""Admission control and deadlines: bounded queue, 429 with Retry-After, 504 that drops the work."""

from __future__ import annotations

import asyncio
import re
import time
import types

import pytest
from fastapi.testclient import TestClient

from reranker.api.admission import Admission
from reranker.api.errors import APIError
from reranker.app import create_app
from reranker.config import Settings
from reranker.metrics import Metrics
from tests.support.app import assert_error, wait_ready
from tests.support.fake_engine import FakeEngine


def _request(documents: int) -> dict:
    return {"query": "q", "documents": [f"document {i}" for i in range(documents)]}


def _metric(client: TestClient, name: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def _app(engine: FakeEngine, **settings):
    async def load():
        return engine

    return create_app(Settings(**settings), load)


# --- the Admission rules, unit by unit ------------------------------------------------------------


async def _hold(admission: Admission, pairs: int, release: asyncio.Event) -> None:
    async with admission.admit(pairs):
        await release.wait()


def test_should_refuse_pairs_over_the_queue_bound_with_429_and_retry_after():
    async def scenario():
        metrics = Metrics()
        admission = Admission(max_pairs=100, timeout_s=20, metrics=metrics)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(admission, 80, release))
        await asyncio.sleep(0)
        assert admission.pairs == 80 and metrics.queue_pairs._value.get() == 80
        with pytest.raises(APIError) as refused:
            admission.check(21)
        admission.check(20)  # exactly at the bound still fits
        release.set()
        await holder
        return refused.value, metrics, admission

    error, metrics, admission = asyncio.run(scenario())
    assert error.status == 429
    assert "--max_queued_pairs" in error.message
    assert int(error.headers["retry-after"]) >= 1
    assert metrics.shed.labels("queue_full")._value.get() == 1
    assert admission.pairs == 0 and metrics.queue_pairs._value.get() == 0


def test_should_admit_a_request_larger_than_the_bound_when_alone():
    async def scenario():
        admission = Admission(max_pairs=10, timeout_s=20, metrics=Metrics())
        async with admission.admit(500):
            return admission.pairs

    assert asyncio.run(scenario()) == 500


def test_should_shed_new_work_once_the_oldest_request_waited_half_its_deadline():
    async def scenario():
        admission = Admission(max_pairs=10_000, timeout_s=0.2, metrics=Metrics())
        release = asyncio.Event()
        holder = asyncio.create_task(_hold(admission, 1, release))
        await asyncio.sleep(0)
        admission.check(1)  # young queue: admitted
        await asyncio.sleep(0.15)
        with pytest.raises(APIError) as refused:
            admission.check(1)
        release.set()
        await holder
        admission.check(1)  # empty again: admitted
        return refused.value

    error = asyncio.run(scenario())
    assert error.status == 429 and "overloaded" in error.message and "--request_timeout" in error.message


def test_should_shed_when_the_measured_throughput_cannot_finish_the_queue_in_time():
    admission = Admission(max_pairs=10_000, timeout_s=20, metrics=Metrics())
    admission.pairs = admission.work = 900  # one unit of work per pair, as check() counts here
    admission.requests = 3
    admission.work_per_second = 100.0  # as measured under load
    with pytest.raises(APIError) as refused:
        admission.check(200)  # (900 + 200) / 100 = 11 s > half of 20 s
    admission.check(50)  # 9.5 s fits
    assert refused.value.status == 429
    assert refused.value.headers["retry-after"] == "9"  # the queue drains in 900 / 100 s


def test_should_learn_throughput_only_from_busy_windows():
    async def scenario():
        admission = Admission(max_pairs=10_000, timeout_s=20, metrics=Metrics())
        async with admission.admit(4):  # a lone small request: latency, not capacity
            await asyncio.sleep(0.01)
        lone = admission.work_per_second
        release = asyncio.Event()
        background = asyncio.create_task(_hold(admission, 1, release))
        await asyncio.sleep(0)
        for _ in range(6):
            async with admission.admit(100):
                await asyncio.sleep(0.1)
        release.set()
        await background
        return lone, admission.work_per_second

    lone, busy = asyncio.run(scenario())
    assert lone is None
    assert busy is not None and busy > 0


def test_should_measure_batched_bursts_at_their_real_throughput(monkeypatch):
    # Sixteen requests of 20 pairs batched together finish in one burst every 0.6 s: 320 pairs
    # per 0.6 s. Counting from admission, the first burst's first finish would read 20 pairs in
    # 0.6 s and drag the estimate down to a fraction of it. The clock is faked: no timing here.
    from reranker.api import admission as admission_module

    clock = [100.0]
    monkeypatch.setattr(admission_module, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))

    async def scenario():
        admission = Admission(max_pairs=100_000, timeout_s=20, metrics=Metrics())
        release = asyncio.Event()
        background = asyncio.create_task(_hold(admission, 1, release))  # keeps the server busy
        await asyncio.sleep(0)
        for _ in range(4):
            done = asyncio.Event()

            async def request(done: asyncio.Event = done) -> None:  # this round's event
                async with admission.admit(20):
                    await done.wait()

            tasks = [asyncio.create_task(request()) for _ in range(16)]
            await asyncio.sleep(0)
            clock[0] += 0.6  # one batch's compute
            done.set()
            await asyncio.gather(*tasks)
        release.set()
        await background
        return admission.work_per_second

    assert asyncio.run(scenario()) == pytest.approx(320 / 0.6)


# --- through the app ----------------------------------------------------------------------------


def test_should_answer_504_at_the_deadline_and_drop_the_work():
    engine = FakeEngine()
    with TestClient(_app(engine, request_timeout=0.3)) as client:
        wait_ready(client)
        engine.delay = 5
        engine.cancelled_calls = engine.finished_calls = 0  # after the warm-up batches
        response = client.post("/openai/v1/rerank", json=_request(3))
        assert_error(response, 504, r"did not finish within 0\.3 s \(--request_timeout\)")
        assert engine.cancelled_calls == 1 and engine.finished_calls == 0
        assert _metric(client, "reranker_requests_expired_total") == 1
        assert _metric(client, "reranker_queue_pairs") == 0
        # Documents that were never scored are not counted as scored (nor the warm-up's).
        assert _metric(client, "reranker_documents_scored_total") == 0


def test_should_answer_429_in_every_dialect_when_the_queue_is_full():
    engine = FakeEngine()
    app = _app(engine, max_queued_pairs=5)
    with TestClient(app) as client:
        wait_ready(client)
        state = app.state.server
        gate = client.portal.call(asyncio.Event)
        engine.gate = gate
        # Hold 4 pairs in the engine from a background request.
        holder = client.portal.start_task_soon(_post_in_loop, app, "/openai/v1/rerank", _request(4))
        deadline = time.monotonic() + 10
        while state.admission.pairs < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        for path, body in (
            ("/openai/v1/rerank", _request(2)),
            ("/v1/rerank", _request(2)),
            ("/v1/score", {"text_1": "q", "text_2": ["a", "b"]}),
            ("/v1/ranking", {"query": {"text": "q"}, "passages": [{"text": "a"}, {"text": "b"}]}),
        ):
            response = client.post(path, json=body)
            assert_error(response, 429, r"--max_queued_pairs")
            assert int(response.headers["retry-after"]) >= 1
        tei = client.post("/rerank", json={"query": "q", "texts": ["a", "b"]})
        assert tei.status_code == 429 and "--max_queued_pairs" in tei.json()["error"]
        client.portal.call(gate.set)
        assert holder.result(timeout=10) == 200
        assert _metric(client, 'reranker_requests_shed_total{reason="queue_full"}') >= 5


async def _post_in_loop(app, path: str, body: dict) -> int:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return (await client.post(path, json=body)).status_code


def test_should_admit_a_burst_of_short_requests_after_a_warm_up_on_long_passages():
    # The warm-up measures ~370-character pairs; a burst of 16 requests of 20 short pairs costs
    # a fraction of that per pair. Counted in pairs the queue would look 1.2 s deep (over half
    # the 1 s deadline) and be shed; counted in characters it is 0.13 s, and it all fits.
    engine = FakeEngine(seconds_per_char=1e-5)
    app = _app(engine, request_timeout=1.0)

    async def burst() -> list[int]:
        body = {"query": "short query", "documents": [f"a short document {i}" for i in range(20)]}
        return list(await asyncio.gather(*(_post_in_loop(app, "/openai/v1/rerank", body) for _ in range(16))))

    with TestClient(app) as client:
        wait_ready(client)
        assert app.state.server.admission.work_per_second is not None
        assert client.portal.call(burst) == [200] * 16


def test_should_refuse_before_reading_the_body_when_full():
    engine = FakeEngine()
    app = _app(engine, max_queued_pairs=5)
    with TestClient(app) as client:
        wait_ready(client)
        admission = app.state.server.admission
        admission.pairs, admission.requests = 5, 1  # as if a request held the whole queue

        response = _post_unread_body(client)
        assert_error(response, 429, r"--max_queued_pairs")
        assert response.headers["retry-after"]
        assert client.get("/v2/health/ready").status_code == 200  # probes are never shed
        admission.pairs, admission.requests = 0, 0


def test_should_bound_the_text_queued_requests_hold():
    async def scenario():
        admission = Admission(max_pairs=10_000, timeout_s=20, metrics=Metrics(), max_chars=1_000)
        release = asyncio.Event()
        holder = asyncio.create_task(_hold_text(admission, 900, release))
        await asyncio.sleep(0)
        with pytest.raises(APIError) as refused:
            admission.check(1, 101)  # one small pair, but a large text
        admission.check(1, 100)
        release.set()
        await holder
        return refused.value, admission.chars

    error, chars_after = asyncio.run(scenario())
    assert error.status == 429 and "--max_queued_chars" in error.message
    assert chars_after == 0


async def _hold_text(admission: Admission, chars: int, release: asyncio.Event) -> None:
    async with admission.admit(1, chars):
        await release.wait()


def test_should_refuse_past_the_concurrent_request_limit_before_reading_the_body():
    engine = FakeEngine()
    app = _app(engine, max_concurrent_requests=1)
    with TestClient(app) as client:
        wait_ready(client)
        gate = client.portal.call(asyncio.Event)
        engine.gate = gate
        holder = client.portal.start_task_soon(_post_in_loop, app, "/openai/v1/rerank", _request(1))
        deadline = time.monotonic() + 10
        while app.state.server.admission.requests < 1 and time.monotonic() < deadline:
            time.sleep(0.01)

        response = _post_unread_body(client)
        assert_error(response, 429, r"--max_concurrent_requests")
        assert response.headers["retry-after"]
        assert client.get("/v2/health/ready").status_code == 200
        client.portal.call(gate.set)
        assert holder.result(timeout=10) == 200
        assert _metric(client, 'reranker_requests_shed_total{reason="concurrency"}') == 1


def _post_unread_body(client: TestClient):
    """POST a body that fails the test if the server reads it."""

    def never_read():
        raise AssertionError("the body was read")
        yield b""  # pragma: no cover

    return client.post("/openai/v1/rerank", content=never_read(), headers={"content-type": "application/json"})
