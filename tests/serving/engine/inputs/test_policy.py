"""The truncate / reject / chunk policy (inputs/policy.py): pairs and texts get the ids the
tokenizer's own truncation gives, the query is never cut, inputs over the model's limit are
refused under reject naming their size, and a request's total tokens are bounded."""

from __future__ import annotations

import pytest

from reranker.engine.base import InputTooLongError, RequestTooLargeError, TruncationPolicy
from reranker.engine.inputs.policy import InputLimits, encode_embedding_pairs, encode_pair_inputs
from reranker.engine.inputs.tokens import TokenReader
from tests.serving.engine.inputs.sample_tokenizers import documents_of_every_length, minilm, whole_ids
from tests.support.app import assert_error, running_app

# --- pairs and single texts: the ids tokenizing the whole text with truncation gives ------------


@pytest.mark.parametrize("max_len", [16, 64, 130, 512])
def test_should_encode_pairs_as_the_tokenizer_truncates_them(tokenizer, max_len):
    reader = TokenReader(tokenizer)
    query = "capital?"
    docs = documents_of_every_length(max_len)
    pairs = [(query, d) for d in docs]
    ours = encode_pair_inputs(reader, pairs, InputLimits(max_len, TruncationPolicy.TRUNCATE)).encoded
    expected = tokenizer([query] * len(docs), docs, truncation="only_second", max_length=max_len)
    assert [e.input_ids.tolist() for e in ours] == expected["input_ids"]
    if "token_type_ids" in tokenizer.model_input_names:
        assert [e.token_type_ids.tolist() for e in ours] == expected["token_type_ids"]
    else:
        assert all(e.token_type_ids is None for e in ours)


def test_should_cut_to_max_tokens_per_doc_as_the_tokenizer_would(tokenizer):
    reader = TokenReader(tokenizer)
    query, max_len, per_doc = "capital?", 512, 20
    docs = documents_of_every_length(3)
    ours = encode_pair_inputs(
        reader, [(query, d) for d in docs], InputLimits(max_len, TruncationPolicy.REJECT, max_tokens_per_doc=per_doc)
    ).encoded
    special = tokenizer.num_special_tokens_to_add(pair=True)
    cap = len(whole_ids(tokenizer, query)) + special + per_doc
    expected = tokenizer([query] * len(docs), docs, truncation="only_second", max_length=cap)["input_ids"]
    assert [e.input_ids.tolist() for e in ours] == expected


def test_should_encode_embedding_inputs_as_the_tokenizer_truncates_them(tokenizer):
    reader = TokenReader(tokenizer)
    query, max_len = "what is the capital of France?", 128
    docs = documents_of_every_length(11) + [query]
    result = encode_embedding_pairs(reader, [(query, d) for d in docs], InputLimits(max_len, TruncationPolicy.TRUNCATE))
    expected = tokenizer(docs, truncation=True, max_length=max_len)["input_ids"]
    assert [result.token_ids[i].tolist() for i in result.document_index] == expected
    assert result.token_ids[result.query_index[0]].tolist() == tokenizer(query)["input_ids"]
    assert result.document_index[-1] == result.query_index[-1]  # the same input is embedded once
    assert result.total_tokens == sum(len(ids) for ids in result.token_ids)


def test_should_refuse_documents_over_the_limit_under_reject_naming_their_size(minilm_dir):
    reader = TokenReader(minilm(minilm_dir))
    query = "capital"
    fits, over = "paris " * 100, "paris " * 1000
    with pytest.raises(
        InputTooLongError,
        match=r"document 1 is too long: 1004 tokens with the query, "
        r"the model's limit is 128",
    ) as raised:
        encode_pair_inputs(reader, [(query, fits[:50]), (query, over)], InputLimits(128, TruncationPolicy.REJECT))
    assert raised.value.pair_index == 1
    # A document far over the limit is counted only so far: the message says "more than".
    with pytest.raises(InputTooLongError, match=r"document 0 is too long: more than \d+ tokens"):
        encode_pair_inputs(reader, [(query, "paris " * 3_000_000)], InputLimits(128, TruncationPolicy.REJECT))
    with pytest.raises(InputTooLongError, match=r"document 0 is too long: 1002 tokens, the model's limit is 128"):
        encode_embedding_pairs(reader, [(query, over)], InputLimits(128, TruncationPolicy.REJECT))
    with pytest.raises(InputTooLongError, match=r"more than 65536 characters"):
        encode_pair_inputs(reader, [(query, " " * 100_000 + "paris")], InputLimits(128, TruncationPolicy.REJECT))
    # Under truncate the same documents are cut; a document that makes no token in the first
    # read_limit characters reads as what was read.
    cut = encode_pair_inputs(
        reader, [(query, over), (query, " " * 100_000 + "paris")], InputLimits(128, TruncationPolicy.TRUNCATE)
    ).encoded
    assert [len(e.input_ids) for e in cut] == [128, 1 + 3]  # [CLS] capital [SEP] [SEP]: nothing read


# --- the query is never cut (the embedding path once cut it silently) ---------------------


@pytest.mark.parametrize("policy", list(TruncationPolicy))
def test_should_refuse_a_query_over_the_limit_for_embedding_models_under_either_policy(minilm_dir, policy):
    reader = TokenReader(minilm(minilm_dir))
    long_query = "paris " * 300
    with pytest.raises(InputTooLongError, match=r"query is too long: 302 tokens, the model's limit is 256"):
        encode_embedding_pairs(reader, [(long_query, "short")], InputLimits(256, policy))
    with pytest.raises(InputTooLongError, match=r"query is too long: more than \d+ tokens"):
        encode_embedding_pairs(reader, [("paris " * 2_500_000, "short")], InputLimits(256, policy))
    # At the limit it still fits, whole.
    fits = "paris " * 254
    result = encode_embedding_pairs(reader, [(fits, "short")], InputLimits(256, policy))
    assert len(result.token_ids[result.query_index[0]]) == 256


def test_embedding_server_should_answer_400_for_a_query_over_the_limit(minilm_client):
    response = minilm_client.post("/v1/rerank", json={"query": "word " * 100_000, "documents": ["a", "b"]})
    assert_error(response, 400, r"query is too long: more than \d+ tokens, the model's limit is 256")


def test_cross_encoder_server_should_still_answer_400_for_a_query_over_the_limit(tiny_client):
    response = tiny_client.post("/v1/rerank", json={"query": "word " * 100_000, "documents": ["a", "b"]})
    assert_error(response, 400, r"query is more than \d+ tokens: with 3 special tokens it leaves no room")


# --- the total work of one request -------------------------------------------------------------


def test_should_refuse_a_request_over_max_request_tokens(minilm_dir):
    reader = TokenReader(minilm(minilm_dir))
    pairs = [("capital", "paris " * 500)] * 10  # 10 pairs of 128 tokens
    at_limit = encode_pair_inputs(
        reader, pairs, InputLimits(128, TruncationPolicy.TRUNCATE, max_request_tokens=1280)
    ).encoded
    assert sum(len(e.input_ids) for e in at_limit) == 1280
    pattern = r"1280 tokens .*more than the limit of 1279 .*--max_request_tokens"
    with pytest.raises(RequestTooLargeError, match=pattern) as raised:
        encode_pair_inputs(reader, pairs, InputLimits(128, TruncationPolicy.TRUNCATE, max_request_tokens=1279))
    assert (raised.value.tokens, raised.value.limit) == (1280, 1279)
    assert not isinstance(raised.value, InputTooLongError)  # a 413, not a 400
    # Embedding models: each distinct input counts once (the query, ten equal documents).
    inputs_ = encode_embedding_pairs(reader, pairs, InputLimits(128, TruncationPolicy.TRUNCATE, max_request_tokens=131))
    assert inputs_.total_tokens == 3 + 128
    with pytest.raises(RequestTooLargeError):
        encode_embedding_pairs(reader, pairs, InputLimits(128, TruncationPolicy.TRUNCATE, max_request_tokens=130))
    # max_tokens_per_doc is what brings a request under the limit.
    cut = encode_pair_inputs(
        reader, pairs, InputLimits(128, TruncationPolicy.TRUNCATE, max_tokens_per_doc=10, max_request_tokens=200)
    ).encoded
    assert sum(len(e.input_ids) for e in cut) == 10 * (1 + 3 + 10)


def test_server_should_answer_413_naming_the_flag(tiny_cross_encoder_dir):
    with running_app(model_id=str(tiny_cross_encoder_dir), max_request_tokens=10_000) as client:
        docs = ["paris is the capital of france " * 40] * 100  # 100 pairs of 128 tokens
        response = client.post("/v1/rerank", json={"query": "capital", "documents": docs})
        assert_error(response, 413, r"12800 tokens .*the limit of 10000 .*\(--max_request_tokens\)")
        assert client.post("/v1/rerank", json={"query": "capital", "documents": docs[:78]}).status_code == 200
