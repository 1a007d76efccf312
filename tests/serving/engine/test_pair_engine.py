"""What both engines share (engine/pair_engine.py): the memory a request's work freed goes back to
the system once the engine has been idle a moment, and not while it is busy; large requests are
tokenized off the event loop, one at a time."""

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


def test_should_tokenize_large_requests_off_the_loop_one_at_a_time(tiny_cross_encoder_dir, monkeypatch):
    """What a request reads while tokenizing is held until it is done: large requests read in a
    worker thread, one request at a time, so that memory is one request's whatever the load."""
    import asyncio
    import threading

    from reranker.config import Settings
    from reranker.engine import pair_engine
    from reranker.engine.base import ScoreOptions
    from reranker.engine.model_source import resolve_model
    from reranker.engine.torch_engine import TorchEngine

    reading, most, threads = 0, 0, set()
    lock = threading.Lock()
    encode = pair_engine.encode_pair_inputs

    def counted(*args):
        nonlocal reading, most
        with lock:
            reading += 1
            most = max(most, reading)
        threads.add(threading.get_ident())
        time.sleep(0.2)  # long enough for the others to start, were they let in
        try:
            return encode(*args)
        finally:
            with lock:
                reading -= 1

    monkeypatch.setattr(pair_engine, "encode_pair_inputs", counted)
    large = [("capital", "paris " * 400) for _ in range(8)]  # over INLINE_TOKENIZE_CHARS

    async def scenario():
        settings = Settings(backend="torch", model_id=str(tiny_cross_encoder_dir))
        engine = TorchEngine(settings, resolve_model(settings))
        await engine.start()
        try:
            results = await asyncio.gather(*(engine.score(large, ScoreOptions()) for _ in range(4)))
            assert all(len(result.scores) == len(large) for result in results)
        finally:
            await engine.stop()

    asyncio.run(scenario())
    assert most == 1, f"{most} requests were tokenized at once"
    assert threading.get_ident() not in threads  # off the event loop's thread
