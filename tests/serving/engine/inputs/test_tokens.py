"""Bounded work per request: no more of a text is tokenized than the model can use, the ids are
the ones tokenizing the whole text gives, a request's total tokens are bounded, and memory goes
back to the system once the server is idle.

The tokenizer checks run on several kinds of tokenizer (the embedded MiniLM's WordPiece, and
byte-level BPE, SentencePiece-style Unigram and pre-tokenizer-less BPE built here, and a pure
Python one); the memory
checks run the real server in a subprocess and read its peak RSS from /proc.
"""

from __future__ import annotations

import concurrent.futures
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from reranker.engine import inputs
from reranker.engine.base import InputTooLongError, RequestTooLargeError, TruncationPolicy
from reranker.engine.inputs import TokenReader, encode_embedding_pairs, encode_pairs
from tests.support.app import assert_error, free_port, running_app, wait_http_ok
from harness.peak_memory import overlay_memory_limit, proc_status, reset_peak

MIB = 1 << 20

# Text with what a cut can split: long words (WordPiece's 100-character rule), CJK, emoji
# sequences of several code points (ZWJ, skin tone, flags), combining accents, full-width
# letters (NFKC), runs of spaces, contractions, digits, URLs, tabs and new lines.
PIECES = [
    "the",
    "capital",
    "of",
    "France",
    "is",
    "Paris",
    "and",
    "Berlin",
    "Germany's",
    "it's",
    "city",
    "x" * 120,
    "supercalifragilisticexpialidocious" * 3,
    "東京は日本の首都です",
    "👨‍👩‍👧‍👦",
    "👍🏽",
    "🇫🇷🇩🇪",
    "cafe\u0301",
    "e\u0301te\u0301",
    "Ａｂｃ１２３",
    "1234567890",
    "https://example.com/a/b?c=d&e=f",
    "...!?",
    "   ",
    "\n\n",
    "\t",
    "naïve",
    "Straße",
    "ß",
    "ﬁne",
    "—",
    "«quoted»",
    "(x+y)/2",
    "🙂",
]


def mixed_text(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < chars:
        piece = rng.choice(PIECES)
        parts.append(piece)
        size += len(piece) + 1
    return " ".join(parts)[:chars]


def corpus() -> list[str]:
    return [mixed_text(2000, seed) for seed in range(40)] + [" ".join(PIECES)] * 5


def _fast(tokenizer, model_input_names, **specials):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=512, model_input_names=model_input_names, **specials
    )


def byte_level_bpe():
    """RoBERTa/GPT-2 style: byte-level pre-tokenizer, BPE, ``<s> A </s></s> B </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        corpus(),
        trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")), add_prefix_space=False
    )
    return _fast(
        tokenizer,
        ["input_ids", "attention_mask"],
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def metaspace_unigram():
    """XLM-R style (bge-reranker-base, the cpu overlay's model): NFKC, runs of spaces folded,
    Metaspace, Unigram, ``<s> A </s></s> B </s>``."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.train_from_iterator(
        corpus(),
        trainers.UnigramTrainer(
            vocab_size=400,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
        ),
    )
    s, e = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", s), ("</s>", e)]
    )
    return _fast(
        tokenizer,
        ["input_ids", "attention_mask"],
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def whole_text_bpe():
    """Llama-2 style: no pre-tokenizer (a text is one word), ``▁`` prepended and for spaces."""
    from tokenizers import Tokenizer, models, normalizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.train_from_iterator(
        corpus(),
        trainers.BpeTrainer(
            vocab_size=500,
            special_tokens=["<unk>", "<s>", "</s>"],
            max_token_length=16,
        ),
    )
    s = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", s)]
    )
    return _fast(
        tokenizer,
        ["input_ids", "token_type_ids", "attention_mask"],
        bos_token="<s>",
        unk_token="<unk>",
        pad_token="<unk>",
    )


def minilm(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


def python_byt5():
    """A tokenizer without the ``tokenizers`` backend (no offsets): ByT5's, in Python."""
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


KINDS = ["wordpiece", "byte-level-bpe", "metaspace-unigram", "whole-text-bpe", "python-byt5"]


@pytest.fixture(scope="module", params=KINDS)
def tokenizer(request, minilm_dir):
    builders = {
        "byte-level-bpe": byte_level_bpe,
        "metaspace-unigram": metaspace_unigram,
        "whole-text-bpe": whole_text_bpe,
        "python-byt5": python_byt5,
    }
    return minilm(minilm_dir) if request.param == "wordpiece" else builders[request.param]()


def whole_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


# --- the leading tokens of a prefix are the whole text's ----------------------------------------


def test_should_read_the_same_leading_tokens_as_the_whole_text(tokenizer):
    reader = TokenReader(tokenizer)
    base = mixed_text(12_000, seed=7)
    needs = list(range(1, 700, 3))
    # Shifting the text by k spaces moves every cut (need x 8 + 256 characters) across the
    # content: each kind of piece is cut in its middle somewhere.
    for shift in range(8):
        text = " " * shift + base
        whole = whole_ids(tokenizer, text)
        for need, read in zip(needs, reader.read([text] * len(needs), needs)):
            assert read.ids == whole[:need], (shift, need)
            assert read.complete is (len(whole) <= need)


def test_should_read_texts_without_spaces_and_tokenless_runs_exactly(tokenizer):
    reader = TokenReader(tokenizer)
    texts = [
        "x" * 20_000,  # one giant word
        "東京は日本の首都です" * 2000,  # no spaces at all
        "👨‍👩‍👧‍👦" * 3000,  # many tokens per character for byte-level BPE
        " " * 30_000 + mixed_text(8000, seed=3),  # a long run that makes no token (WordPiece)
        "\x01" * 20_000 + "paris is the capital",  # characters the normalizer drops
    ]
    for text in texts:
        assert len(text) < inputs.MIN_READ_CHARS  # within the read limit: read exactly
        whole = whole_ids(tokenizer, text)
        for need in (1, 50, 300):
            read = reader.read([text], [need])[0]
            assert read.ids == whole[:need]
            assert read.complete is (len(whole) <= need)


def test_should_stop_reading_at_the_read_limit(minilm_dir):
    reader = TokenReader(minilm(minilm_dir))
    text = " " * 200_000 + "paris " * 10  # WordPiece makes no token of spaces
    read = reader.read([text], [10])[0]
    assert not read.complete and read.ids == []
    assert read.chars_read == inputs.read_limit(10) < len(text)


# --- pairs and single texts: the ids tokenizing the whole text with truncation gives ------------


def documents_of_every_length(seed: int) -> list[str]:
    text = mixed_text(40_000, seed)
    rng = random.Random(seed)
    lengths = [1, 5, 40, 200, 600, 1500, 3000, 9000, 30_000]
    return [text[start : start + n] for n in lengths for start in (rng.randrange(0, 9000) for _ in range(2))]


@pytest.mark.parametrize("max_len", [16, 64, 130, 512])
def test_should_encode_pairs_as_the_tokenizer_truncates_them(tokenizer, max_len):
    reader = TokenReader(tokenizer)
    query = "capital?"
    docs = documents_of_every_length(max_len)
    pairs = [(query, d) for d in docs]
    ours = encode_pairs(reader, pairs, max_len, TruncationPolicy.TRUNCATE)
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
    ours = encode_pairs(reader, [(query, d) for d in docs], max_len, TruncationPolicy.REJECT, per_doc)
    special = tokenizer.num_special_tokens_to_add(pair=True)
    cap = len(whole_ids(tokenizer, query)) + special + per_doc
    expected = tokenizer([query] * len(docs), docs, truncation="only_second", max_length=cap)["input_ids"]
    assert [e.input_ids.tolist() for e in ours] == expected


def test_should_encode_embedding_inputs_as_the_tokenizer_truncates_them(tokenizer):
    reader = TokenReader(tokenizer)
    query, max_len = "what is the capital of France?", 128
    docs = documents_of_every_length(11) + [query]
    result = encode_embedding_pairs(reader, [(query, d) for d in docs], max_len, TruncationPolicy.TRUNCATE)
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
        encode_pairs(reader, [(query, fits[:50]), (query, over)], 128, TruncationPolicy.REJECT)
    assert raised.value.pair_index == 1
    # A document far over the limit is counted only so far: the message says "more than".
    with pytest.raises(InputTooLongError, match=r"document 0 is too long: more than \d+ tokens"):
        encode_pairs(reader, [(query, "paris " * 3_000_000)], 128, TruncationPolicy.REJECT)
    with pytest.raises(InputTooLongError, match=r"document 0 is too long: 1002 tokens, the model's limit is 128"):
        encode_embedding_pairs(reader, [(query, over)], 128, TruncationPolicy.REJECT)
    with pytest.raises(InputTooLongError, match=r"more than 65536 characters"):
        encode_pairs(reader, [(query, " " * 100_000 + "paris")], 128, TruncationPolicy.REJECT)
    # Under truncate the same documents are cut; a document that makes no token in the first
    # read_limit characters reads as what was read.
    cut = encode_pairs(reader, [(query, over), (query, " " * 100_000 + "paris")], 128, TruncationPolicy.TRUNCATE)
    assert [len(e.input_ids) for e in cut] == [128, 1 + 3]  # [CLS] capital [SEP] [SEP]: nothing read


# --- the query is never cut (the embedding path once cut it silently) ---------------------


@pytest.mark.parametrize("policy", list(TruncationPolicy))
def test_should_refuse_a_query_over_the_limit_for_embedding_models_under_either_policy(minilm_dir, policy):
    reader = TokenReader(minilm(minilm_dir))
    long_query = "paris " * 300
    with pytest.raises(InputTooLongError, match=r"query is too long: 302 tokens, the model's limit is 256"):
        encode_embedding_pairs(reader, [(long_query, "short")], 256, policy)
    with pytest.raises(InputTooLongError, match=r"query is too long: more than \d+ tokens"):
        encode_embedding_pairs(reader, [("paris " * 2_500_000, "short")], 256, policy)
    # At the limit it still fits, whole.
    fits = "paris " * 254
    result = encode_embedding_pairs(reader, [(fits, "short")], 256, policy)
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
    at_limit = encode_pairs(reader, pairs, 128, TruncationPolicy.TRUNCATE, None, 1280)
    assert sum(len(e.input_ids) for e in at_limit) == 1280
    pattern = r"1280 tokens .*more than the limit of 1279 .*--max_request_tokens"
    with pytest.raises(RequestTooLargeError, match=pattern) as raised:
        encode_pairs(reader, pairs, 128, TruncationPolicy.TRUNCATE, None, 1279)
    assert (raised.value.tokens, raised.value.limit) == (1280, 1279)
    assert not isinstance(raised.value, InputTooLongError)  # a 413, not a 400
    # Embedding models: each distinct input counts once (the query, ten equal documents).
    inputs_ = encode_embedding_pairs(reader, pairs, 128, TruncationPolicy.TRUNCATE, None, 131)
    assert inputs_.total_tokens == 3 + 128
    with pytest.raises(RequestTooLargeError):
        encode_embedding_pairs(reader, pairs, 128, TruncationPolicy.TRUNCATE, None, 130)
    # max_tokens_per_doc is what brings a request under the limit.
    cut = encode_pairs(reader, pairs, 128, TruncationPolicy.TRUNCATE, 10, 200)
    assert sum(len(e.input_ids) for e in cut) == 10 * (1 + 3 + 10)


def test_server_should_answer_413_naming_the_flag(tiny_cross_encoder_dir):
    with running_app(model_id=str(tiny_cross_encoder_dir), max_request_tokens=10_000) as client:
        docs = ["paris is the capital of france " * 40] * 100  # 100 pairs of 128 tokens
        response = client.post("/v1/rerank", json={"query": "capital", "documents": docs})
        assert_error(response, 413, r"12800 tokens .*the limit of 10000 .*\(--max_request_tokens\)")
        assert client.post("/v1/rerank", json={"query": "capital", "documents": docs[:78]}).status_code == 200


# --- memory goes back to the system --------------------------------------------------------------


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


# --- the real server: peak memory and memory returned -------------------------------------------


def memory_limit_bytes() -> int:
    """The cpu overlay's memory limit (the base's; the overlay does not change it)."""
    return overlay_memory_limit("cpu")


# The cpu overlay serves bge-reranker-base, whose float32 weights take about 1.1 GB more than
# the embedded MiniLM's: the server here must stay that far below the limit.
OVERLAY_MODEL_EXTRA_BYTES = 1200 * MIB


class Server:
    def __init__(self, process: subprocess.Popen, base: str):
        self.process, self.base = process, base

    def status(self) -> dict[str, int]:
        return proc_status(self.process.pid)

    def reset_peak(self) -> None:
        reset_peak(self.process.pid)  # VmHWM := VmRSS

    def rerank(self, query: str, documents: list[str], timeout: float = 180) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/rerank", json={"query": query, "documents": documents}, timeout=timeout)


@pytest.fixture
def server_process(tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("reads peak RSS from /proc")
    started = []

    def start(model_dir) -> Server:
        port = free_port()
        log = (tmp_path / f"server-{port}.log").open("w")
        env = {**os.environ, "RERANKER_REQUEST_TIMEOUT": "300"}  # a slow CI machine is not what we test
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reranker",
                f"--model_id={model_dir}",
                "--backend=torch",
                f"--http_port={port}",
                "--host=127.0.0.1",
                "--log_level=warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_http_ok(f"{base}/v2/health/ready", process, lambda: Path(log.name).read_text())
        return Server(process, base)

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def words_text(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(5000)
    ]
    text = " ".join(rng.choices(vocabulary, k=chars // 5 + 16))
    while len(text) < chars:
        text += " " + text
    return text[:chars]


@pytest.mark.slow
def test_four_concurrent_15_mb_documents_stay_under_the_cpu_overlays_memory_limit(server_process, minilm_dir):
    server = server_process(minilm_dir)
    server.rerank("capital of france", ["warm-up"])
    documents = [words_text(15_000_000, seed) for seed in range(4)]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda d: server.rerank("capital of france", [d]), documents))
    peak = server.status()["VmHWM"]
    for response in responses:
        assert response.status_code == 200, response.text[:300]
        assert response.json()["usage"]["total_tokens"] == 5 + 256  # [CLS] q [SEP], the document cut to 256
    assert peak + OVERLAY_MODEL_EXTRA_BYTES < memory_limit_bytes(), f"peak RSS {peak / MIB:.0f} MiB"
    # A 15 MB query is refused having read only a prefix of it: no new peak.
    refused = server.rerank("word " * 3_000_000, ["paris"])
    assert_error(refused, 400, r"query is too long")
    assert server.status()["VmHWM"] + OVERLAY_MODEL_EXTRA_BYTES < memory_limit_bytes()


@pytest.mark.slow
def test_memory_goes_back_to_the_system_when_the_server_is_idle(server_process, tiny_cross_encoder_dir):
    server = server_process(tiny_cross_encoder_dir)
    server.rerank("capital of france", ["warm-up"])
    time.sleep(2)
    idle = server.status()["VmRSS"]
    server.reset_peak()
    documents = [words_text(16_000, seed) for seed in range(1000)]  # a 16 MB body
    response = server.rerank("capital of france", documents)
    assert response.status_code == 200, response.text[:300]
    peak = server.status()["VmHWM"]
    grown = peak - idle
    assert grown > 50 * MIB, f"the request should have used memory (RSS grew {grown / MIB:.0f} MiB)"
    deadline = time.monotonic() + 15
    while (kept := server.status()["VmRSS"] - idle) > grown / 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert kept <= grown / 2, f"idle RSS {kept / MIB:.0f} MiB above what it was (peak +{grown / MIB:.0f})"
