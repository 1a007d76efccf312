"""An engine with no model, for tests of the HTTP layer's load handling: it scores each pair
by its document's length and can be held (``gate``) or slowed (``delay``) to build a queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from reranker.engine.base import Engine, ModelInfo, ModelKind, ScoreOptions, ScoreResult


class FakeEngine(Engine):
    def __init__(self, delay: float = 0.0, seconds_per_char: float = 0.0):
        self.delay = delay
        # A model's cost: time per character of text, one request at a time (like one model).
        self.seconds_per_char = seconds_per_char
        self._model: asyncio.Lock | None = None
        self.gate: asyncio.Event | None = None  # set by the test's loop: score() waits on it
        self.started_calls = 0
        self.finished_calls = 0
        self.cancelled_calls = 0

    @property
    def info(self) -> ModelInfo:
        return ModelInfo("reranker", "fake", ModelKind.CROSS_ENCODER, 512, "fake")

    async def start(self) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    async def score(self, pairs: Sequence[tuple[str, str]], options: ScoreOptions) -> ScoreResult:
        self.started_calls += 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            await asyncio.sleep(self.delay)
            if self.seconds_per_char:
                self._model = self._model or asyncio.Lock()
                async with self._model:
                    await asyncio.sleep(self.seconds_per_char * sum(len(q) + len(d) for q, d in pairs))
        except asyncio.CancelledError:
            self.cancelled_calls += 1
            raise
        self.finished_calls += 1
        return ScoreResult([1.0 / (1 + len(d)) for _, d in pairs], sum(len(d.split()) for _, d in pairs))
