"""What both engines share (engine/pair_engine.py): here, that the memory a request's work freed
goes back to the system once the engine has been idle a moment, and not while it is busy."""

from __future__ import annotations

import time


def test_should_release_memory_once_the_engine_is_idle_after_work(tiny_cross_encoder_dir, monkeypatch):
    import asyncio

    from reranker.config import Settings
    from reranker.engine import pair_engine
    from reranker.engine.base import ScoreOptions
    from reranker.engine.model_source import resolve_model
    from reranker.engine.torch_engine import TorchEngine

    releases = []
    monkeypatch.setattr(pair_engine, "TRIM_DELAY", 0.2)

    async def scenario():
        settings = Settings(backend="torch", model_id=str(tiny_cross_encoder_dir))
        engine = TorchEngine(settings, resolve_model(settings))
        engine._release_memory = lambda: releases.append(time.monotonic())
        await engine.start()
        try:
            for _ in range(3):  # work with short pauses: no release while the engine is busy
                await asyncio.gather(*(engine.score([("capital", "paris")], ScoreOptions()) for _ in range(4)))
                await asyncio.sleep(0.05)
            assert releases == []
            await asyncio.sleep(0.6)
            assert len(releases) == 1  # once, after the last request
            await asyncio.sleep(0.5)
            assert len(releases) == 1  # and not again while nothing happens
        finally:
            await engine.stop()

    asyncio.run(scenario())
    assert pair_engine.release_memory() >= 0  # malloc_trim where glibc is, nothing elsewhere
