"""XLM-R chunking (``--truncation chunk``) against a reference written here from the chunking
policy as docs/api.md states it, not from the server's input code (``reranker.engine.inputs`` is not
imported).

The policy: only the document is cut, the query is kept whole; a
document longer than the room beside the query is split into consecutive windows of that many
tokens (no overlap: the stride is the window), each scored as its own pair, and the document's
score is its best window's (max of the logits, then the sigmoid). A document that fits is one
window. The model is XLM-RoBERTa, bge-reranker-v2-m3's family (the default model's family for
multilingual serving): a Unigram (sentencepiece) tokenizer that learned accented Latin, CJK and
emoji here, so words split into several pieces, CJK runs have no spaces to cut at (one
"word" hundreds of characters long), NFKC rewrites some characters, and unknown ones become
``<unk>``.

The reference tokenizes each whole text with the Hugging Face tokenizer, lays out
``<s> query </s></s> window </s>`` itself and runs the Hugging Face model on one window at a
time (no padding, no batching).
"""

from __future__ import annotations

import math

import pytest
import torch

from reranker.engine.base import ScoreOptions, TruncationPolicy
from tests.serving.engine.reference.test_reference_precision import logit_tolerance
from tests.support.app import run_with_engine, score_with_engine
from tests.support.tiny_models import build_tiny_xlm_roberta_cross_encoder

# float32 on both sides, the same weights and the same token ids: what is left is the order of
# float32 sums, which differs between one window alone (here) and windows padded into one batch
# (the engine). Measured: at most 9.5e-7 (tiny XLM-R seeds 0-2, these documents, |logit| < 2.3).
# 1e-5 is 10x that, and 10^4 times smaller than what moving the windows by one token changes.
CHUNK_LOGIT_ATOL = 1e-5
# In bfloat16 (--dtype auto on AMX / AVX512-BF16 CPUs): test_reference_precision's bound, 48 unit
# roundoffs (2^-8) of the RMS of the float32 window logits; every window's logit moves less than
# that, so their max does too. Measured: 0.019-0.034 of the RMS (seeds 0-2), a bound of 0.1875.
# (The tokenizer's training is not deterministic, so each build's logits differ a little; the
# reference is computed from the build under test.)

# What the tokenizer learns besides the tiny models' English corpus (tiny_models.CORPUS).
MULTILINGUAL = (
    "Paris est la capitale de la France ; Molière, Zoë et Éloïse déjeunent près de la forêt.",
    "São Paulo é a maior cidade do Brasil; a população ultrapassa doze milhões.",
    "Ærøskøbing ligger på Ærø, og Straße heißt auf Deutsch die Straße nach Köln.",
    "東京は日本の首都であり、世界最大の都市圏の一つです。",
    "巴黎是法国的首都和最大城市，埃菲尔铁塔位于塞纳河畔。",
    "서울은 대한민국의 수도입니다.",
    "Rerankers 🔎 score documents 📄 against queries ❓ and the best one wins 🏆🎉.",
)
QUERY = "Quelle est la capitale de la France ? 首都は 🗼"
# Each several windows long beside the query (the tiny model's limit is 128 tokens).
ACCENTED = " ".join(
    f"Phrase {i} : Molière déjeune à São Paulo, Zoë à Köln, Éloïse près de la forêt d'Ærø." for i in range(30)
)
# No space at all: one Metaspace "word" of about 1,500 characters.
CJK = "".join(
    f"東京は日本の首都であり{i}、巴黎是法国的首都和最大城市，埃菲尔铁塔位于塞纳河畔。서울은수도입니다。"
    for i in range(30)
)
# Emoji (skin tone and ZWJ sequences that the tokenizer never saw: <unk>), NFKC rewrites
# (ligature, full-width, circled digits) and the query's own words late in the document.
EMOJI = (
    " ".join(
        f"{i}: rerankers 🔎 score ﬁles 📄 for Ｐａｒｉｓ ① 👍🏽 👨‍👩‍👧 and the best one wins 🏆🎉." for i in range(40)
    )
    + " Paris est la capitale de la France 🗼."
)
MIXED = " ".join(f"{ACCENTED[i * 90 : (i + 1) * 90]} {CJK[i * 40 : (i + 1) * 40]} 🍕" for i in range(12))
SHORT = "Paris est la capitale de la France."


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_xlm_roberta_cross_encoder(
        tmp_path_factory.mktemp("tiny-xlm-roberta-multilingual"), extra_corpus=MULTILINGUAL, vocab_size=400
    )


class WindowReference:
    """The chunk policy, computed from the Hugging Face tokenizer and model directly."""

    def __init__(self, model_dir):
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
        config = self.model.config
        # XLM-R numbers positions from padding_idx + 1: two of max_position_embeddings are unusable.
        self.max_len = min(self.tokenizer.model_max_length, config.max_position_embeddings - config.pad_token_id - 1)
        self.bos, self.eos = self.tokenizer.bos_token_id, self.tokenizer.eos_token_id

    def ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def layout(self, query_ids: list[int], window: list[int]) -> list[int]:
        return [self.bos, *query_ids, self.eos, self.eos, *window, self.eos]

    def room(self, query: str) -> int:
        return self.max_len - len(self.layout(self.ids(query), []))

    def windows(self, query: str, document: str) -> list[list[int]]:
        """Each model input: the whole query beside consecutive, non-overlapping windows."""
        query_ids, document_ids = self.ids(query), self.ids(document)
        room = self.room(query)
        starts = range(0, max(len(document_ids), 1), room)
        return [self.layout(query_ids, document_ids[start : start + room]) for start in starts]

    def window_logits(self, query: str, document: str) -> list[float]:
        logits = []
        with torch.inference_mode():
            for ids in self.windows(query, document):
                logits.append(float(self.model(input_ids=torch.tensor([ids])).logits[0, 0]))
        return logits

    def scores(self, pairs, activation: bool) -> list[float]:
        best = [max(self.window_logits(q, d)) for q, d in pairs]
        return [1 / (1 + math.exp(-x)) for x in best] if activation else best

    def total_tokens(self, pairs) -> int:
        return sum(len(ids) for q, d in pairs for ids in self.windows(q, d))


@pytest.fixture(scope="module")
def reference(model_dir):
    return WindowReference(model_dir)


def test_reference_lays_out_pairs_as_the_tokenizer_does(reference):
    # The reference's own layout is XLM-R's pair format, checked on a pair that fits.
    query_ids = reference.ids(QUERY)
    assert reference.windows(QUERY, SHORT) == [reference.tokenizer(QUERY, SHORT)["input_ids"]]
    assert len(reference.windows(QUERY, SHORT)[0]) == len(query_ids) + len(reference.ids(SHORT)) + 4
    assert reference.max_len == 128


DOCUMENTS = {"accented": ACCENTED, "cjk": CJK, "emoji": EMOJI, "mixed": MIXED}


def test_reference_documents_need_several_windows_and_are_not_trivially_tokenized(reference):
    tokenizer = reference.tokenizer
    for name, document in DOCUMENTS.items():
        windows = reference.windows(QUERY, document)
        assert len(windows) >= 3, name
        assert all(len(ids) <= reference.max_len for ids in windows), name
        pieces = tokenizer.convert_ids_to_tokens(reference.ids(document))
        # Words cut into pieces (not one token per word nor per character).
        assert len(pieces) > len(document.split()), name
    assert tokenizer.unk_token_id in reference.ids(EMOJI)  # emoji never seen: <unk>
    assert "ﬁ" not in "".join(tokenizer.convert_ids_to_tokens(reference.ids(EMOJI)))  # NFKC: "fi"
    assert any(len(piece) > 1 for piece in tokenizer.convert_ids_to_tokens(reference.ids(CJK)))  # multi-char CJK pieces
    # The best window is not always the first: the max over windows is exercised.
    best = [
        max(range(len(logits)), key=logits.__getitem__)
        for logits in (reference.window_logits(QUERY, d) for d in DOCUMENTS.values())
    ]
    assert any(index > 0 for index in best), best


def boundary_document(reference, extra: int) -> str:
    """A prefix of a long document whose tokens are exactly the room beside the query plus
    ``extra`` (one more character can add two tokens: the next document may have the prefix)."""
    want = reference.room(QUERY) + extra
    for document in (MIXED, ACCENTED, EMOJI):
        for end in range(len(document)):
            if len(reference.ids(document[:end])) == want:
                return document[:end]
    raise AssertionError(f"no prefix of the long documents has {want} tokens")


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_should_score_multilingual_documents_by_their_best_window(model_dir, reference, dtype):
    pairs = [(QUERY, document) for document in DOCUMENTS.values()]
    pairs += [(QUERY, SHORT)]
    pairs += [(QUERY, boundary_document(reference, extra)) for extra in (0, 1)]  # fits; one token over
    assert [len(reference.windows(q, d)) for q, d in pairs[-2:]] == [1, 2]
    windows = [x for q, d in pairs for x in reference.window_logits(q, d)]
    tolerance = CHUNK_LOGIT_ATOL if dtype == "float32" else logit_tolerance(dtype, windows)

    async def scenario(engine):
        return {
            activation: await engine.score(pairs, ScoreOptions(use_activation=activation))
            for activation in (False, True)
        }

    results = run_with_engine(model_dir, scenario, truncation="chunk", dtype=dtype)
    for activation, result in results.items():
        # The sigmoid's slope is at most 1/4: the same bound holds for the relevance scores.
        assert result.scores == pytest.approx(reference.scores(pairs, activation), abs=tolerance, rel=0), activation
        assert result.total_tokens == reference.total_tokens(pairs)


def test_should_chunk_only_under_the_chunk_policy(model_dir, reference):
    # The same long documents under truncate: the first window alone, as the reference's.
    pairs = [(QUERY, document) for document in DOCUMENTS.values()]
    first = [reference.window_logits(q, d)[0] for q, d in pairs]
    result = score_with_engine(
        model_dir, pairs, ScoreOptions(use_activation=False, truncation=TruncationPolicy.TRUNCATE), dtype="float32"
    )
    assert result.scores == pytest.approx(first, abs=CHUNK_LOGIT_ATOL, rel=0)
