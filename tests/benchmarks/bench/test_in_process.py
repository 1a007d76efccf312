"""The in-process ceiling: one library call for C requests, in batches of the library's size on CPU."""

from __future__ import annotations

import pytest

from benchmarks.bench import cli
from benchmarks.bench.in_process import LIBRARY_BATCH, InProcess, in_process_batch
from harness.request_bodies import distinct_rerank_body


def test_in_process_latency_of_a_call_counts_for_each_request_it_scored():
    class Engine(InProcess):
        def __init__(self):  # no model: score() stands in
            self.device = "cpu"

        def score(self, bodies):
            return sum(len(b["documents"]) for b in bodies)

    bodies = [distinct_rerank_body(3, 5, seed) for seed in range(4)]
    point = Engine().run(bodies, concurrency=4, seconds=0.05)
    assert point.documents == 3 * len(point.latencies)
    assert len(point.latencies) % 4 == 0


def test_in_process_batches_by_the_library_default_on_cpu_and_all_at_once_on_cuda():
    calls = []

    class Library:  # records what sentence-transformers was asked for
        def predict(self, pairs, batch_size, show_progress_bar):
            calls.append((len(pairs), batch_size))

    engine = InProcess.__new__(InProcess)
    engine.kind, engine.model = "cross-encoder", Library()
    bodies = [distinct_rerank_body(20, 5, seed) for seed in range(16)]
    for requested, device in (("auto", "cpu"), ("auto", "cuda"), ("all", "cpu"), ("8", "cuda")):
        engine.batch = in_process_batch(requested, device)
        assert engine.score(bodies) == 320
    assert calls == [(320, 32), (320, 320), (320, 320), (320, 8)]
    assert in_process_batch("auto", "cpu") == LIBRARY_BATCH == 32
    with pytest.raises(SystemExit):
        cli.parse_args(["--in-process-batch", "0"])
