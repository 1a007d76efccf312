"""Admission control: bounded work in the server, shed early rather than answered late.

Every scoring request is admitted with its pair count before any tokenizing or scoring. It is
refused with 429 and ``Retry-After`` when

- the pairs admitted and not yet finished would pass ``--max_queued_pairs``, or the text those
  requests hold would pass ``--max_queued_chars``, or the bodies of the requests in progress
  would pass ``--max_concurrent_body_bytes`` (memory bounds; checked before the body is read,
  in ``ShedWhenFull``), or
- the queue is not keeping up: the oldest admitted request has already waited half of
  ``--request_timeout``, or the queue ahead would take longer than that at the throughput the
  server has measured, so the request would risk expiring in it (overload).

Throughput is counted in *work*: characters of query and document the model reads, each pair's
cut to what the model's token limit holds (``work_of``). Pairs would not do: a pair of two short
sentences costs a fraction of a 500-token one, and a figure measured on one kind of request
would shed (or admit) a burst of the other by a factor of several.

A request alone in the queue is always admitted, however large, so no valid request is refused
forever. The throughput starts from a timed warm-up batch at load and is then measured over busy
time only (work finished per second while at least two requests were in, the last ten busy
seconds or so weighing most), so it follows the model and the hardware without configuration.
When the server is already full, a request is refused before its body is read (``ShedWhenFull``
in request_guards.py), so overload costs no parsing.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from ..metrics import Metrics
from .errors import APIError

_MIN_BUSY_S = 0.5  # busy time measured before the measured throughput replaces the warm-up's
_MEMORY_S = 10.0  # busy seconds over which old work and time fade (1/e): the estimate follows load
_MAX_RETRY_AFTER_S = 60
# Shed new work once the oldest admitted request has waited this share of its deadline, or the
# queue ahead would take that long: the margin absorbs errors of the throughput estimate, so
# what is admitted finishes in time instead of expiring.
_MAX_AGE_FRACTION = 0.5


def work_of(pairs: Sequence[tuple[str, str]], max_chars_per_pair: int | None) -> int:
    """What ``pairs`` cost the model, in characters it reads: each pair's query and document,
    at most ``max_chars_per_pair`` (what the token limit holds; None: all, as when chunking)."""
    if max_chars_per_pair is None:
        return sum(len(query) + len(document) for query, document in pairs)
    return sum(min(len(query) + len(document), max_chars_per_pair) for query, document in pairs)


class Admission:
    def __init__(self, max_pairs: int, timeout_s: float, metrics: Metrics, max_chars: int | None = None):
        self.max_pairs = max_pairs
        self.max_chars = max_chars
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.pairs = 0  # admitted, not finished
        self.work = 0  # their work (see work_of)
        self.chars = 0  # text those requests hold
        self.requests = 0
        self._admitted_at: dict[int, float] = {}  # admission ticket -> monotonic time, oldest first
        self._next_ticket = 0
        self.work_per_second: float | None = None
        # Throughput while busy: work finished over the time it took, both fading with age.
        self._busy_s = 0.0
        self._work_done = 0.0
        self._last_event = 0.0

    def estimated_wait(self, extra_work: int = 0) -> float | None:
        """Seconds to finish what is queued (plus ``extra_work``), at the measured throughput."""
        if not self.work_per_second:
            return None
        return (self.work + extra_work) / self.work_per_second

    def oldest_age(self) -> float:
        """Seconds the longest-waiting admitted request has been in the server."""
        if not self._admitted_at:
            return 0.0
        return time.monotonic() - next(iter(self._admitted_at.values()))

    def _retry_after(self) -> str:
        wait = self.estimated_wait() or self.oldest_age() or 1.0
        return str(min(_MAX_RETRY_AFTER_S, max(1, math.ceil(wait))))

    def _shed(self, reason: str, message: str) -> APIError:
        self.metrics.shed.labels(reason).inc()
        return APIError(429, message, None, {"retry-after": self._retry_after()})

    def saturated(self) -> APIError | None:
        """The 429 any new request would get now, whatever its size (None: not saturated).
        Checked before a body is read, so a server that is full spends nothing on parsing."""
        if self.requests == 0:
            return None
        if self.pairs >= self.max_pairs:
            return self._shed(
                "queue_full",
                f"server is busy: {self.pairs} pairs are queued, the limit is {self.max_pairs} "
                "(--max_queued_pairs); retry later",
            )
        return self._check_age()

    def shed_concurrency(self, active: int, limit: int) -> APIError:
        return self._shed(
            "concurrency",
            f"server is busy: {active} scoring requests are in progress, the limit is {limit} "
            "(--max_concurrent_requests); retry later",
        )

    def shed_body_bytes(self, held: int, incoming: int, limit: int) -> APIError:
        return self._shed(
            "queue_full",
            f"server is busy: requests in progress hold {held} bytes of request bodies and this one "
            f"brings {incoming}, over the limit of {limit} (--max_concurrent_body_bytes); retry later",
        )

    def _check_age(self) -> APIError | None:
        oldest = self.oldest_age()
        if oldest > self.timeout_s * _MAX_AGE_FRACTION:
            return self._shed(
                "overloaded",
                f"server is overloaded: requests admitted {oldest:.1f} s ago are still waiting, over half "
                f"the request deadline of {self.timeout_s:g} s (--request_timeout); retry later",
            )
        return None

    def check(self, pairs: int, chars: int = 0, work: int | None = None) -> None:
        """Raise 429 if ``pairs`` more (holding ``chars`` of text, costing ``work``; default: one
        per pair) cannot be admitted now."""
        if self.requests == 0:
            return
        if self.max_chars is not None and self.chars + chars > self.max_chars:
            raise self._shed(
                "queue_full",
                f"server is busy: queued requests hold {self.chars} characters of text and this one "
                f"{chars}, over the limit of {self.max_chars} (--max_queued_chars); retry later",
            )
        if self.pairs + pairs > self.max_pairs:
            raise self._shed(
                "queue_full",
                f"server is busy: {self.pairs} pairs are queued and this request adds {pairs}, over the "
                f"limit of {self.max_pairs} (--max_queued_pairs); retry later",
            )
        too_old = self._check_age()
        if too_old is not None:
            raise too_old
        wait = self.estimated_wait(pairs if work is None else work)
        if wait is not None and wait > self.timeout_s * _MAX_AGE_FRACTION:
            raise self._shed(
                "overloaded",
                f"server is overloaded: the queue ahead would take about {wait:.1f} s, over half the "
                f"request deadline of {self.timeout_s:g} s (--request_timeout); retry later",
            )

    @asynccontextmanager
    async def admit(self, pairs: int, chars: int = 0, work: int | None = None) -> AsyncIterator[None]:
        """Hold ``pairs`` (and ``chars`` of text, ``work``: see work_of; default one per pair) of
        the queue while the block runs (429 if they do not fit)."""
        work = pairs if work is None else work
        self.check(pairs, chars, work)
        self._advance()
        self.pairs += pairs
        self.work += work
        self.chars += chars
        self.requests += 1
        ticket = self._next_ticket
        self._next_ticket += 1
        self._admitted_at[ticket] = time.monotonic()
        self._publish()
        finished = False
        try:
            yield
            finished = True
        finally:
            if finished:
                self._measure(work)
            del self._admitted_at[ticket]
            self.pairs -= pairs
            self.work -= work
            self.chars -= chars
            self.requests -= 1
            self._publish()

    def calibrate(self, work_per_second: float) -> None:
        """A first throughput figure (a timed warm-up batch), until load measures it better."""
        if self.work_per_second is None and work_per_second > 0:
            self.work_per_second = work_per_second

    def _advance(self) -> None:
        """Count the time since the last admission or finish as busy if the server was: while
        at least two requests were in, so that a lone request's latency does not pass for
        capacity (batching makes the server far faster under load than at concurrency 1)."""
        now = time.monotonic()
        elapsed, self._last_event = now - self._last_event, now
        if self.requests >= 2:
            fade = math.exp(-elapsed / _MEMORY_S)
            self._busy_s = self._busy_s * fade + elapsed
            self._work_done *= fade

    def _measure(self, work: int) -> None:
        # Work is counted at finishes and time continuously, and the estimate is their ratio
        # now, not a sample frozen at some finish: requests batched together finish in a burst,
        # and a sample taken at the burst's first finish would see one request's work for a
        # whole batch's time (a throughput many times too low, and 429s for a queue that drains
        # in time).
        self._advance()
        if self.requests < 2:
            return  # a lone request: latency, not capacity
        self._work_done += work
        if self._busy_s >= _MIN_BUSY_S:
            self.work_per_second = self._work_done / self._busy_s

    def _publish(self) -> None:
        self.metrics.queue_pairs.set(self.pairs)
        self.metrics.queue_requests.set(self.requests)
