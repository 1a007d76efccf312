"""The served systems' first-answer check: a run measures rerank answers, never errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.bench.servers import check_answer
from benchmarks.bench.workloads import Workload
from harness.request_bodies import SEED_REQUEST, distinct_rerank_body


def _answer(count: int) -> bytes:
    return json.dumps({"results": [{"index": i, "relevance_score": 0.5} for i in range(count)]}).encode()


def test_the_first_answer_should_hold_a_result_per_document_or_top_n():
    uniform = Workload("cross-encoder", "cross-encoder", Path("m"), [distinct_rerank_body(4, 5, 0)], [1])
    seed = Workload("seed", "cross-encoder", Path("m"), [SEED_REQUEST], [1])
    check_answer(uniform, 200, _answer(4))
    check_answer(seed, 200, _answer(SEED_REQUEST["top_n"]))
    with pytest.raises(RuntimeError, match="3 results for 4 expected"):
        check_answer(uniform, 200, _answer(3))
    with pytest.raises(RuntimeError, match="4 results for 2 expected"):
        check_answer(seed, 200, _answer(4))


def test_an_error_status_should_stop_the_system_with_the_answer_it_gave():
    workload = Workload("cross-encoder", "cross-encoder", Path("m"), [distinct_rerank_body(4, 5, 0)], [1])
    with pytest.raises(RuntimeError, match=r"status 503: b'\{\"error\""):
        check_answer(workload, 503, b'{"error": {"code": 503}}')
