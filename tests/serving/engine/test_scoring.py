"""What the event loop computes after the model has answered: scores from logits and cosines
from embeddings, in numpy, and never a torch operation on the loop's thread.

Why it matters: a torch operation on the event loop starts a second OpenMP thread team beside
the model thread's; with more OpenMP threads than cores, GNU OpenMP stops spin-waiting at its
barriers, and on a 2-core machine embedding requests ran 20% slower (make bench found it).
"""

from __future__ import annotations

import math
import threading
import warnings

import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from reranker.engine.base import ScoreOptions, TruncationPolicy
from reranker.engine.inputs import EmbeddingInputs
from reranker.engine.scoring import cosine_scores, relevance_scores
from tests.support.app import SEED_REQUEST, run_with_engine

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


class TorchCalls(TorchFunctionMode):
    """Records the torch functions called on the thread that entered it (modes are per thread)."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []
        self.thread = threading.get_ident()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def _score_watching_the_loop(model_dir, pairs, options, **settings):
    async def scenario(engine):
        await engine.score(pairs, options)  # warm: the reader is built, the model has run once
        with TorchCalls() as watched:
            result = await engine.score(pairs, options)
        return result, watched.calls

    return run_with_engine(model_dir, scenario, **settings)


def test_the_mode_sees_torch_calls_on_its_own_thread_only():
    with TorchCalls() as watched:
        torch.ones(2).sum()
        worker = threading.Thread(target=lambda: torch.ones(2).sum())
        worker.start()
        worker.join()
    assert watched.calls.count("sum") == 1  # the worker's sum is not this thread's


def test_a_cross_encoder_request_runs_no_torch_on_the_event_loop(tiny_cross_encoder_dir):
    long_document = " ".join(DOCS * 40)  # chunked into windows: the best window per pair
    pairs = [(QUERY, d) for d in DOCS] + [(QUERY, long_document)]
    result, calls = _score_watching_the_loop(
        tiny_cross_encoder_dir, pairs, ScoreOptions(), truncation=TruncationPolicy.CHUNK.value
    )
    assert calls == []
    assert len(result.scores) == len(pairs) and all(0.0 < s < 1.0 for s in result.scores)


def test_an_embedding_request_runs_no_torch_on_the_event_loop(minilm_dir):
    result, calls = _score_watching_the_loop(minilm_dir, [(QUERY, d) for d in DOCS], ScoreOptions())
    assert calls == []
    assert max(range(len(DOCS)), key=lambda i: result.scores[i]) == 0  # Paris first


def test_cosines_match_torch_for_tensors_of_any_dtype_and_arrays():
    generator = torch.Generator().manual_seed(0)
    vectors = [torch.randn(16, generator=generator) for _ in range(5)] + [torch.zeros(16)]
    inputs = EmbeddingInputs([np.zeros(1, np.int32)] * 6, [0, 0, 1, 1, 0], [2, 3, 4, 5, 1])
    rows = torch.stack(vectors).double()
    expected = torch.nn.functional.cosine_similarity(rows[inputs.query_index], rows[inputs.document_index], dim=1)
    assert cosine_scores(inputs, vectors) == pytest.approx(expected.tolist(), abs=1e-12)
    assert cosine_scores(inputs, vectors)[3] == 0.0  # against the zero vector
    halves = [v.bfloat16() for v in vectors]  # vLLM and bf16 engines hand these over
    assert cosine_scores(inputs, halves) == pytest.approx(expected.tolist(), abs=2e-2)
    assert cosine_scores(inputs, [v.numpy() for v in vectors]) == cosine_scores(inputs, vectors)


def test_cosines_stay_within_plus_and_minus_one():
    same = np.full(384, 0.1, dtype=np.float32)
    inputs = EmbeddingInputs([np.zeros(1, np.int32)] * 2, [0, 0], [0, 1])
    assert cosine_scores(inputs, [same, -same]) == [1.0, -1.0]
    assert cosine_scores(EmbeddingInputs([], [], []), []) == []


def test_relevance_is_the_sigmoid_of_each_pairs_best_window():
    logits = [0.0, 2.0, -1.0, 3.0, 1000.0, -1000.0]
    owners = [0, 1, 1, 1, 2, 3]  # pair 1 was cut into three windows
    assert relevance_scores(logits, owners, 4, activation=False) == [0.0, 3.0, 1000.0, -1000.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning on extreme logits
        scores = relevance_scores(logits, owners, 4, activation=True)
    assert scores == pytest.approx([0.5, 1 / (1 + math.exp(-3.0)), 1.0, 0.0], abs=1e-15)
    assert relevance_scores([0.5, -0.5], [0, 1], 2, activation=True) == pytest.approx(
        torch.sigmoid(torch.tensor([0.5, -0.5], dtype=torch.float64)).tolist(), abs=1e-15
    )
