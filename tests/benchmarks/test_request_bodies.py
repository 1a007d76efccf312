"""harness/request_bodies.py's uniform bodies as the benchmark sends them: distinct, so no engine is
flattered by repeated text, and the same for the same seed."""

from __future__ import annotations

from harness.request_bodies import distinct_rerank_body


def test_benchmark_bodies_are_distinct_and_reproducible():
    first = [distinct_rerank_body(20, 30, seed) for seed in range(50)]
    documents = [d for body in first for d in body["documents"]]
    assert len(set(documents)) == len(documents) == 1000
    assert all(len(d.split()) == 30 for d in documents)
    assert first[7] == distinct_rerank_body(20, 30, 7)
