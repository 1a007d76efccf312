"""Dynamic batching: pack work from concurrent requests into model batches under a token budget.

Requests put items (one per pair or text, each with its token length) on a shared queue and
await their results. One worker drains the queue: it takes what is waiting (up to two
budgets' worth, oldest first, so requests finish in arrival order), sorts it by
length so a batch pads little, cuts it into batches whose size fits the budget (padded: pairs x
longest pair; packed, laid end to end without padding: the sum of their lengths), and runs the
batches in compute threads so the event loop never blocks. With several model workers (CPU), each
runs one batch at a time on its own share of the cores, and a round too small to give each worker
a batch is cut into smaller, balanced ones: a lone request still uses every core.
While the model computes, new requests queue up and form the next round: under load batches
fill themselves; when idle, a lone request runs at once with no added wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..observability import tracing
from .base import BatchObserver

log = logging.getLogger(__name__)

Payload = TypeVar("Payload")

# How many token budgets one round may take from the queue before the worker looks again.
# Every request in a round finishes when the round does, so a round is kept short (about two
# batches): under a deep queue, requests then finish in arrival order, a couple of batches
# apart, instead of all together after their deadline. Sorting within the round still keeps
# padding low.
_ROUND_BUDGETS = 2


@dataclass
class _Pending(Generic[Payload]):
    payload: Payload
    length: int
    future: asyncio.Future
    span_context: Any = None  # the submitting request's span, for the batch span's links


BatchFn = Callable[[list[Any]], Sequence[Any]]


def plan_batches(lengths: Sequence[int], max_batch_tokens: int, packed: bool = False) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches: sorted by length, each batch's size within
    budget (padded: items x longest; packed: the sum of the lengths).

    An item longer than the budget still gets a batch of its own (the model limit, not the
    budget, decides what fits).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    tokens = 0
    for index in order:
        # Sorted ascending, so this item is the longest in the batch it joins.
        size = tokens + lengths[index] if packed else (len(current) + 1) * lengths[index]
        if current and size > max_batch_tokens:
            batches.append(current)
            current, tokens = [], 0
        current.append(index)
        tokens += lengths[index]
    if current:
        batches.append(current)
    return batches


def balanced_batches(
    lengths: Sequence[int], parts: int, max_batch_tokens: int, packed: bool = False
) -> list[list[int]]:
    """Indices of ``lengths`` in at most ``parts`` batches of near-equal size, each within budget.

    ``plan_batches`` under the smallest budget that still needs no more than ``parts`` batches: the
    batches stay runs of similar length (little padding, equal lengths side by side), and parallel
    workers finish together.
    """
    low, high = max(lengths), max(max_batch_tokens, max(lengths))
    while low < high:  # the smallest budget that fits the items in ``parts`` batches
        middle = (low + high) // 2
        if len(plan_batches(lengths, middle, packed)) <= parts:
            high = middle
        else:
            low = middle + 1
    return plan_batches(lengths, low, packed)


def batch_tokens(lengths: Sequence[int], packed: bool) -> int:
    """What a batch of items of ``lengths`` computes: padded, items x longest; packed, their sum."""
    return sum(lengths) if packed else len(lengths) * max(lengths)


class DynamicBatcher(Generic[Payload]):
    def __init__(
        self,
        run_batch: BatchFn,
        max_batch_tokens: int,
        observe_batch: BatchObserver | None = None,
        packed: bool = False,
        workers: int = 1,
        init_worker: Callable[[], None] | None = None,
        computed_tokens: Callable[[list[Payload]], int] | None = None,
    ):
        self._run_batch = run_batch
        # What a batch computes, where its items' budget shares do not add up to it (a shared
        # prompt prefix is computed once per batch, whatever share each pair was charged).
        self._computed_tokens = computed_tokens
        self._max_batch_tokens = max_batch_tokens
        self._packed = packed  # the model runs batches without padding
        self._observe = observe_batch
        self._queue: deque[_Pending[Payload]] = deque()
        self._wakeup = asyncio.Event()
        # One thread per model worker; torch parallelises inside each batch on the worker's share
        # of the cores (init_worker sets it up in each thread).
        self._workers = workers
        self._free_workers: asyncio.Semaphore | None = None  # made on the loop, by start()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model", initializer=init_worker)
        self._worker: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._worker is None:
            self._free_workers = asyncio.Semaphore(self._workers)
            self._worker = asyncio.get_running_loop().create_task(self._work(), name="batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for task in list(self._running):
            task.cancel()
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(RuntimeError("server is shutting down"))
        self._queue.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, payloads: Sequence[Payload], lengths: Sequence[int]) -> list[Any]:
        """Results for ``payloads`` in order, computed in whatever batches the worker forms."""
        if self._worker is None:
            raise RuntimeError("batcher is not started")
        loop = asyncio.get_running_loop()
        span_context = tracing.current_span_context()
        pending = [_Pending(p, n, loop.create_future(), span_context) for p, n in zip(payloads, lengths)]
        self._queue.extend(pending)
        self._wakeup.set()
        return list(await asyncio.gather(*(p.future for p in pending)))

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._free_workers is not None  # made by start()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                round_items = self._take_round()
                for batch_indices in self._plan([p.length for p in round_items]):
                    batch = [round_items[i] for i in batch_indices]
                    await self._free_workers.acquire()  # a worker is free: this batch is its next
                    task = loop.create_task(self._run(loop, batch))
                    self._running.add(task)
                    task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        assert self._free_workers is not None
        self._free_workers.release()

    def _plan(self, lengths: list[int]) -> list[list[int]]:
        batches = plan_batches(lengths, self._max_batch_tokens, self._packed)
        if len(batches) < self._workers and len(lengths) > 1:  # every worker gets a share
            return balanced_batches(lengths, self._workers, self._max_batch_tokens, self._packed)
        return batches

    def _take_round(self) -> list[_Pending[Payload]]:
        taken: list[_Pending[Payload]] = []
        tokens = 0
        cap = self._max_batch_tokens * _ROUND_BUDGETS
        while self._queue and (not taken or tokens + self._queue[0].length <= cap):
            pending = self._queue.popleft()
            if pending.future.done():  # the request was cancelled (client went away)
                continue
            taken.append(pending)
            tokens += pending.length
        return taken

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[Payload]]) -> None:
        batch = [p for p in batch if not p.future.done()]
        if not batch:
            return
        if self._computed_tokens is not None:
            padded_tokens = self._computed_tokens([p.payload for p in batch])
        else:
            padded_tokens = batch_tokens([p.length for p in batch], self._packed)
        if self._observe is not None:
            self._observe(len(batch), padded_tokens)
        try:
            attributes = {"reranker.batch.items": len(batch), "reranker.batch.padded_tokens": padded_tokens}
            with tracing.batch_span("model batch", attributes, [p.span_context for p in batch]):
                results = await loop.run_in_executor(self._executor, self._run_batch, [p.payload for p in batch])
        except Exception as exc:  # every waiter of this batch learns of the failure
            log.exception("model batch of %d items failed", len(batch))
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending, result in zip(batch, results):
            if not pending.future.done():
                pending.future.set_result(result)
