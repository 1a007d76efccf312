"""The torch engine against the models' own reference outputs, alone and under concurrency."""

from __future__ import annotations

import asyncio

import pytest
import torch

from reranker.engine.base import InputTooLongError, ModelKind, ScoreOptions
from tests.support.app import SEED_REQUEST, run_with_engine

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


def reference_cross_encoder_logits(model_dir, pairs):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        features = tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True, return_tensors="pt")
        return model(**features).logits[:, 0].tolist()


def test_should_match_the_cross_encoder_reference(tiny_cross_encoder_dir):
    pairs = [(QUERY, d) for d in DOCS]
    expected = reference_cross_encoder_logits(tiny_cross_encoder_dir, pairs)

    async def scenario(engine):
        assert engine.info.kind is ModelKind.CROSS_ENCODER
        return (
            await engine.score(pairs, ScoreOptions(use_activation=False)),
            await engine.score(pairs, ScoreOptions()),
        )

    raw, activated = run_with_engine(tiny_cross_encoder_dir, scenario)
    assert raw.scores == pytest.approx(expected, abs=1e-5)
    assert activated.scores == pytest.approx(torch.sigmoid(torch.tensor(expected)).tolist(), abs=1e-6)


def test_should_match_sentence_transformers_cosine_for_embedding_models(minilm_dir):
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(minilm_dir), device="cpu")
    q = reference.encode([QUERY], normalize_embeddings=True, convert_to_tensor=True)
    d = reference.encode(DOCS, normalize_embeddings=True, convert_to_tensor=True)
    expected = (d @ q[0]).tolist()

    async def scenario(engine):
        assert engine.info.kind is ModelKind.EMBEDDING
        return await engine.score([(QUERY, doc) for doc in DOCS], ScoreOptions())

    result = run_with_engine(minilm_dir, scenario)
    assert result.scores == pytest.approx(expected, abs=1e-5)
    assert max(range(4), key=lambda i: result.scores[i]) == 0  # Paris first


def test_should_answer_concurrent_requests_each_with_its_own_scores(tiny_cross_encoder_dir):
    queries = [f"{QUERY} {word}" for word in ("paris", "berlin", "tower", "europe", "city", "country")]
    batches = []

    async def scenario(engine):
        engine.set_batch_observer(lambda items, tokens: batches.append(items))
        alone = [await engine.score([(q, d) for d in DOCS], ScoreOptions()) for q in queries]
        batches.clear()
        together = await asyncio.gather(*(engine.score([(q, d) for d in DOCS], ScoreOptions()) for q in queries))
        return alone, together

    alone, together = run_with_engine(tiny_cross_encoder_dir, scenario)
    for one, many in zip(alone, together):
        assert many.scores == pytest.approx(one.scores, abs=1e-5)
        assert many.total_tokens == one.total_tokens
    assert len({tuple(round(s, 6) for s in r.scores) for r in together}) == len(queries)
    # Pairs of different requests shared model batches: fewer batches than requests.
    assert sum(batches) == 4 * len(queries)
    assert len(batches) < len(queries)


def test_should_batch_by_the_devices_default_budget_unless_the_flag_sets_one(tiny_cross_encoder_dir):
    from reranker.engine.torch_engine import (
        DEFAULT_BATCH_TOKENS,
        DEFAULT_PACKED_CPU_BATCH_TOKENS,
        batch_token_budget,
    )

    # ~125 tokens each, distinct in words the tiny vocabulary knows and where truncation keeps
    # them (identical inputs are scored once): 108 documents, about 13,500 tokens, in one request,
    # so that the batcher holds them all at once (requests arriving one by one under a loaded
    # machine were batched as they came, in batches under 2048 tokens whatever the budget)
    words = ["paris", "tower", "city", "france", "berlin", "germany"]
    long_docs = [" ".join([a, b, c] + ["paris tower city"] * 40) for a in words for b in words for c in words[:3]]

    def padded_batches(**flags):
        batches = []

        async def scenario(engine):
            engine.set_batch_observer(lambda items, tokens: batches.append(tokens))
            await engine.score([(QUERY, d) for d in long_docs], ScoreOptions())
            return engine.batch_tokens

        return run_with_engine(tiny_cross_encoder_dir, scenario, **flags), batches

    budget, batches = padded_batches(packed_batches="off")
    assert budget == DEFAULT_BATCH_TOKENS["cpu"] == 2048
    assert max(batches) <= 2048 < sum(batches)
    budget, batches = padded_batches(packed_batches="off", max_batch_tokens=8192)
    assert budget == 8192 and 2048 < max(batches) <= 8192
    # Packed batches pay for no padding: on CPU they default to a larger budget.
    budget, batches = padded_batches()
    assert budget == DEFAULT_PACKED_CPU_BATCH_TOKENS == 8192
    assert 2048 < max(batches) <= 8192
    budget, batches = padded_batches(max_batch_tokens=1024)
    assert budget == 1024 and max(batches) <= 1024
    assert batch_token_budget(None, torch.device("cuda")) == DEFAULT_BATCH_TOKENS["cuda"] == 16384
    assert batch_token_budget(512, torch.device("cuda")) == 512


def test_should_truncate_the_document_and_never_the_query(tiny_cross_encoder_dir):
    long_doc = "paris is the capital of france " * 100

    async def scenario(engine):
        return await engine.score([(QUERY, long_doc)], ScoreOptions())

    result = run_with_engine(tiny_cross_encoder_dir, scenario)
    assert result.total_tokens == 128


def test_should_reject_when_the_policy_is_reject(tiny_cross_encoder_dir):
    async def scenario(engine):
        with pytest.raises(InputTooLongError, match=r"document 1 is too long"):
            await engine.score([(QUERY, "short"), (QUERY, "paris " * 300)], ScoreOptions())
        with pytest.raises(InputTooLongError, match=r"query is \d+ tokens"):
            await engine.score([("paris " * 300, "short")], ScoreOptions())
        return await engine.score([(QUERY, "short")], ScoreOptions())

    assert len(run_with_engine(tiny_cross_encoder_dir, scenario, truncation="reject").scores) == 1


def test_should_reject_long_embedding_texts_naming_the_document(minilm_dir):
    async def scenario(engine):
        with pytest.raises(InputTooLongError, match=r"document 1 is too long"):
            await engine.score([(QUERY, "short"), (QUERY, "paris " * 400)], ScoreOptions())
        with pytest.raises(InputTooLongError, match=r"query is too long"):
            await engine.score([("paris " * 400, "short")], ScoreOptions())

    run_with_engine(minilm_dir, scenario, truncation="reject")


def test_should_cut_documents_to_max_tokens_per_doc(tiny_cross_encoder_dir):
    async def scenario(engine):
        full = await engine.score([(QUERY, DOCS[0])], ScoreOptions())
        cut = await engine.score([(QUERY, DOCS[0])], ScoreOptions(max_tokens_per_doc=3))
        query_only = engine.count_tokens(QUERY)
        return full, cut, query_only

    full, cut, query_tokens = run_with_engine(tiny_cross_encoder_dir, scenario)
    assert cut.total_tokens == query_tokens + 3 + 3  # [CLS] q [SEP] 3 doc tokens [SEP]
    assert full.total_tokens > cut.total_tokens


def test_a_model_whose_forward_rewrites_its_state_should_run_on_one_worker(tiny_cross_encoder_dir, tmp_path):
    """Dynamic RoPE recomputes inv_freq per batch length: two workers at once would let a batch
    score with the frequencies of the other's length. One worker, and the scores of concurrent
    batches of different lengths equal those of the same batches run one after the other."""
    import asyncio

    from reranker.config import Settings
    from reranker.engine.base import ScoreOptions
    from reranker.engine.model_source import resolve_model
    from reranker.engine.torch_engine import TorchEngine, state_changed_by_forward
    from tests.support.tiny_models import build_tiny_dynamic_rope_llama

    model_dir = build_tiny_dynamic_rope_llama(tmp_path / "dynamic-rope", tiny_cross_encoder_dir)
    short = [("capital", "paris"), ("river", "berlin")]  # within max_position_embeddings
    long = [("capital of france", " ".join(["paris is the capital city of france"] * 6))] * 3  # beyond

    async def scores(concurrent: bool):
        settings = Settings(backend="torch", model_id=str(model_dir), model_family="cross-encoder", model_workers=2)
        engine = TorchEngine(settings, resolve_model(settings))
        await engine.start()
        try:
            assert state_changed_by_forward(engine._model) is not None
            assert engine._workers == 1
            if concurrent:
                runs = [asyncio.gather(*(engine.score(pairs, ScoreOptions()) for pairs in (short, long) * 4))]
                (results,) = await asyncio.gather(*runs)
            else:
                results = [await engine.score(pairs, ScoreOptions()) for pairs in (short, long) * 4]
            return [score for r in results for score in r.scores]
        finally:
            await engine.stop()

    assert asyncio.run(scores(concurrent=True)) == pytest.approx(asyncio.run(scores(concurrent=False)), abs=1e-6)


def test_should_find_no_forward_state_in_models_with_fixed_rope(tiny_cross_encoder_dir):
    from transformers import AutoModelForSequenceClassification

    from reranker.engine.torch_engine import state_changed_by_forward

    assert state_changed_by_forward(AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir)) is None
