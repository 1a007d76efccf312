"""Long documents under --truncation chunk (inputs/policy.py): each window that fits is scored, the document gets
the best window's score, and usage counts every window's tokens (--max_request_tokens bounds
them). References are built here from the tokenizer and the model's logits."""

from __future__ import annotations

import pytest
import torch

from reranker.engine.base import RequestTooLargeError, ScoreOptions, TruncationPolicy
from tests.support.app import SEED_REQUEST, assert_error, run_with_engine, running_app, score_with_engine
from tests.support.tiny_models import CARD_PREFIX, CARD_SUFFIX, CARD_TASK, build_tiny_qwen3_reranker

QUERY = SEED_REQUEST["query"]
# About 700 tokens: several windows of the tiny cross-encoder's 128.
LONG = " ".join(f"sentence {i} says the river bank is near the lazy dog." for i in range(60))
NEEDLE = LONG + " Paris is the capital and most populous city of France."


def bert_windows_reference(model_dir, query, document, max_len=128):
    """[CLS] query [SEP] window [SEP] for each window of the document's tokens that fits."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    q = tokenizer(query, add_special_tokens=False)["input_ids"]
    d = tokenizer(document, add_special_tokens=False)["input_ids"]
    room = max_len - len(q) - 3
    windows = [d[i : i + room] for i in range(0, len(d), room)]
    logits = []
    for window in windows:
        ids = [tokenizer.cls_token_id, *q, tokenizer.sep_token_id, *window, tokenizer.sep_token_id]
        types = [0] * (len(q) + 2) + [1] * (len(window) + 1)
        with torch.inference_mode():
            out = model(input_ids=torch.tensor([ids]), token_type_ids=torch.tensor([types])).logits[0, 0]
        logits.append(float(out))
    return logits, sum(len(q) + 3 + len(w) for w in windows)


def test_should_score_a_long_document_by_its_best_window(tiny_cross_encoder_dir):
    logits, tokens = bert_windows_reference(tiny_cross_encoder_dir, QUERY, NEEDLE)
    assert len(logits) >= 5
    result = score_with_engine(
        tiny_cross_encoder_dir, [(QUERY, NEEDLE)], ScoreOptions(use_activation=False), truncation="chunk"
    )
    assert result.scores == pytest.approx([max(logits)], abs=1e-5)
    assert result.total_tokens == tokens  # every window's tokens, the query's again in each


def test_should_score_short_documents_alike_under_chunk_and_truncate(tiny_cross_encoder_dir):
    pairs = [(QUERY, d) for d in SEED_REQUEST["documents"]] + [(QUERY, NEEDLE)]
    chunked = score_with_engine(tiny_cross_encoder_dir, pairs, truncation="chunk")
    truncated = score_with_engine(tiny_cross_encoder_dir, pairs, truncation="truncate")
    assert chunked.scores[:4] == pytest.approx(truncated.scores[:4], abs=1e-6)
    # The first window is the truncated pair, so the best window scores at least as high. The two
    # runs batch that pair with different neighbours (other windows, or the short documents), and
    # float32 kernels differ by ~1e-8 across batch shapes on some CPUs: allow what [:4] allows.
    assert chunked.scores[4] >= truncated.scores[4] - 1e-6
    assert chunked.total_tokens > truncated.total_tokens


def test_should_cut_to_max_tokens_per_doc_before_chunking(tiny_cross_encoder_dir):
    options = ScoreOptions(max_tokens_per_doc=200, use_activation=False)
    result = score_with_engine(tiny_cross_encoder_dir, [(QUERY, NEEDLE)], options, truncation="chunk")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_cross_encoder_dir)
    query_tokens = len(tokenizer(QUERY, add_special_tokens=False)["input_ids"])
    windows = -(-200 // (128 - query_tokens - 3))
    assert result.total_tokens == 200 + windows * (query_tokens + 3)


def test_should_keep_chunked_requests_within_max_request_tokens(tiny_cross_encoder_dir):
    async def scenario(engine):
        with pytest.raises(RequestTooLargeError, match=r"more than the limit of 1000 per request"):
            await engine.score([(QUERY, NEEDLE * 3)], ScoreOptions())
        # A request's own policy still wins over the server's chunk.
        return await engine.score([(QUERY, NEEDLE * 3)], ScoreOptions(truncation=TruncationPolicy.TRUNCATE))

    result = run_with_engine(tiny_cross_encoder_dir, scenario, truncation="chunk", max_request_tokens=1000)
    assert result.total_tokens == 128


@pytest.mark.slow  # loads a model
def test_should_chunk_inside_the_llm_reranker_template(tmp_path):
    model_dir = build_tiny_qwen3_reranker(tmp_path / "qwen3")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    prefix, suffix = ids(CARD_PREFIX), ids(CARD_SUFFIX)
    head = ids(f"<Instruct>: {CARD_TASK}\n<Query>: {QUERY}\n<Document>: ")
    document = ids(NEEDLE)
    room = 256 - len(prefix) - len(suffix) - len(head)
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    expected, tokens = [], 0
    for start in range(0, len(document), room):
        prompt = prefix + head + document[start : start + room] + suffix
        tokens += len(prompt)
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
        expected.append(float(logits[yes] - logits[no]))
    result = score_with_engine(
        model_dir,
        [(QUERY, NEEDLE)],
        ScoreOptions(use_activation=False),
        model_family="qwen3-reranker",
        max_model_len=256,
        truncation="chunk",
    )
    assert len(expected) >= 3
    assert result.scores == pytest.approx([max(expected)], abs=1e-4)
    assert result.total_tokens == tokens


def test_should_report_every_windows_tokens_in_usage(tiny_cross_encoder_dir):
    _, tokens = bert_windows_reference(tiny_cross_encoder_dir, QUERY, NEEDLE)
    with running_app(model_id=str(tiny_cross_encoder_dir), truncation="chunk", max_request_tokens=2000) as client:
        body = {"query": QUERY, "documents": [NEEDLE, "short"]}
        response = client.post("/openai/v1/rerank", json=body)
        assert response.status_code == 200, response.text
        from transformers import AutoTokenizer

        short_pair = len(AutoTokenizer.from_pretrained(tiny_cross_encoder_dir)(QUERY, "short")["input_ids"])
        assert response.json()["usage"]["total_tokens"] == tokens + short_pair  # every window, and the short pair
        too_big = client.post("/openai/v1/rerank", json={"query": QUERY, "documents": [NEEDLE * 4]})
        assert_error(too_big, 413, r"--max_request_tokens")
