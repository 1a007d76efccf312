"""Dynamic batching: packing under the token budget, and concurrent requests sharing batches."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from reranker.engine.batcher import DynamicBatcher, plan_batches


def test_should_group_by_length_within_the_padded_budget():
    lengths = [50, 10, 12, 48, 11, 49]
    batches = plan_batches(lengths, max_batch_tokens=100)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 100
    # Short items travel together, long ones together: little padding.
    assert {frozenset(b) for b in batches} == {frozenset({1, 4, 2}), frozenset({3, 5}), frozenset({0})}


def test_should_give_an_item_longer_than_the_budget_its_own_batch():
    assert plan_batches([500, 5, 5], max_batch_tokens=100) == [[1, 2], [0]]


class RecordingModel:
    """Doubles each payload; records batches; the first batch blocks until released."""

    def __init__(self):
        self.batches: list[list[int]] = []
        self.release = threading.Event()

    def __call__(self, payloads):
        if not self.batches:
            self.release.wait(5)
        self.batches.append(list(payloads))
        return [p * 2 for p in payloads]


def test_should_batch_concurrent_requests_together_and_answer_each_its_own():
    model = RecordingModel()

    async def scenario():
        batcher = DynamicBatcher(model, max_batch_tokens=10_000)
        batcher.start()
        blocker = asyncio.create_task(batcher.submit([0], [1]))
        await asyncio.sleep(0.05)  # the model is now busy with the first request
        requests = [
            asyncio.create_task(batcher.submit([k * 100 + i for i in range(3)], [5, 6, 7])) for k in range(1, 6)
        ]
        await asyncio.sleep(0.05)
        model.release.set()
        results = await asyncio.gather(blocker, *requests)
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert results[0] == [0]
    for k, result in enumerate(results[1:], start=1):
        assert result == [2 * (k * 100 + i) for i in range(3)]
    # All five waiting requests went to the model in one batch of 15.
    assert len(model.batches) == 2
    assert sorted(model.batches[1]) == sorted(k * 100 + i for k in range(1, 6) for i in range(3))


def test_should_fail_only_the_requests_in_a_failing_batch():
    def model(payloads):
        if "bad" in payloads:
            raise ValueError("boom")
        return [p.upper() for p in payloads]

    async def scenario():
        batcher = DynamicBatcher(model, max_batch_tokens=1)  # one item per batch
        batcher.start()
        good = batcher.submit(["ok"], [1])
        bad = batcher.submit(["bad"], [1])
        results = await asyncio.gather(good, bad, return_exceptions=True)
        again = await batcher.submit(["fine"], [1])
        await batcher.stop()
        return results, again

    (good, bad), again = asyncio.run(scenario())
    assert good == ["OK"]
    assert isinstance(bad, ValueError)
    assert again == ["FINE"]


def test_should_not_block_the_event_loop_while_the_model_computes():
    def slow_model(payloads):
        time.sleep(0.3)
        return payloads

    async def scenario():
        batcher = DynamicBatcher(slow_model, max_batch_tokens=100)
        batcher.start()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        await batcher.submit([1], [1])
        tick_task.cancel()
        await batcher.stop()
        return ticks

    assert asyncio.run(scenario()) >= 10


def test_should_refuse_work_before_start():
    async def scenario():
        await DynamicBatcher(lambda p: p, 10).submit([1], [1])

    with pytest.raises(RuntimeError, match="not started"):
        asyncio.run(scenario())


# --- several model workers (CPU) ------------------------------------------------------------------


@pytest.mark.parametrize("packed", [True, False])
def test_should_split_a_round_into_batches_of_near_equal_size(packed):
    from reranker.engine.batcher import balanced_batches, batch_tokens

    lengths = [300, 20, 45, 180, 90, 12, 75, 160, 30, 33]
    groups = balanced_batches(lengths, 2, 10_000, packed)
    assert len(groups) == 2
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    sizes = [batch_tokens([lengths[i] for i in g], packed) for g in groups]
    # No cut of the sorted lengths into two runs has a smaller largest batch.
    ordered = sorted(lengths)
    best = min(
        max(batch_tokens(ordered[:k], packed), batch_tokens(ordered[k:], packed)) for k in range(1, len(ordered))
    )
    assert max(sizes) == best
    assert balanced_batches([5], 2, 100, packed) == [[0]]  # no empty batch


@pytest.mark.parametrize("packed", [True, False])
def test_should_run_batches_on_every_worker_at_once_and_split_a_lone_request_between_them(packed):
    both_running = threading.Barrier(2, timeout=5)  # each batch waits until the other runs too
    threads: set[str] = set()

    def model(payloads):
        threads.add(threading.current_thread().name)
        both_running.wait()
        return [p * 2 for p in payloads]

    async def scenario():
        batcher = DynamicBatcher(model, max_batch_tokens=10_000, packed=packed, workers=2)
        batcher.start()
        # One request, well within one batch's budget: split so that both workers take part.
        result = await batcher.submit(list(range(6)), [10, 40, 20, 30, 25, 35])
        await batcher.stop()
        return result

    assert asyncio.run(scenario()) == [0, 2, 4, 6, 8, 10]
    assert len(threads) == 2


@pytest.mark.parametrize("workers", [2, 3, 4])
@pytest.mark.parametrize("packed", [True, False])
def test_should_keep_every_planned_batch_within_the_budget(workers, packed):
    import random

    from reranker.engine.batcher import batch_tokens

    rng = random.Random(workers)
    batcher = DynamicBatcher(lambda p: p, max_batch_tokens=100, packed=packed, workers=workers)
    for _ in range(500):
        lengths = [rng.randint(1, 100) for _ in range(rng.randint(1, 8))]
        batches = batcher._plan(lengths)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        assert all(batch_tokens([lengths[i] for i in b], packed) <= 100 for b in batches)
        sizes = [batch_tokens([lengths[i] for i in b], packed) for b in batches]
        if len(lengths) >= workers:
            # A small round still reaches every worker, unless its longest item alone is what
            # the largest batch costs (more batches would not finish sooner).
            assert len(batches) >= workers or max(sizes) == max(lengths)
