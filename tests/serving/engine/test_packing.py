"""Packed (padding-free) batches and shared-prefix reuse in the torch engine: the same scores as
padded batches, for every architecture that packs, with less work."""

from __future__ import annotations

import random

import numpy as np
import pytest

from reranker.engine.base import ScoreOptions
from reranker.engine.batcher import plan_batches
from reranker.engine.packing import pack_decoder_pairs, pack_encoder_pairs, shared_prefix
from tests.support.app import run_with_engine
from tests.support.tiny_models import (
    CORPUS,
)


def varied_pairs(count: int = 12, seed: int = 0) -> list[tuple[str, str]]:
    """One query and documents from 1 to 40 words: lengths that padding would waste work on."""
    rng = random.Random(seed)
    words = " ".join(CORPUS).split()
    query = " ".join(rng.choices(words, k=5))
    return [(query, " ".join(rng.choices(words, k=rng.randint(1, 40)))) for _ in range(count)]


# The original Qwen3-Reranker is a plain causal LM: its files cannot say it is a reranker.
FAMILY_FLAGS = {"qwen3-causal": {"model_family": "qwen3-reranker"}}


def uniform_pairs(count: int = 8) -> list[tuple[str, str]]:
    """Documents of one length: their pairs share attention calls (runs of equal length)."""
    words = " ".join(CORPUS).split()
    return [("capital of france", " ".join(words[i : i + 6])) for i in range(count)]


def scores_and_batches(model_dir, pairs, options=None, **settings):
    observed: list[tuple[int, int]] = []

    async def scenario(engine):
        engine.set_batch_observer(lambda items, tokens: observed.append((items, tokens)))
        result = await engine.score(pairs, options or ScoreOptions(use_activation=False))
        return result, engine._batch_layout()

    (result, layout) = run_with_engine(model_dir, scenario, **settings)
    return result, layout, observed


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "qwen3-causal", "qwen3-seq-cls"])
@pytest.mark.parametrize("lengths", ["varied", "uniform"])
def test_should_score_packed_batches_as_padded_ones(family_models, family, lengths):
    pairs, flags = (varied_pairs() if lengths == "varied" else uniform_pairs()), FAMILY_FLAGS.get(family, {})
    padded, padded_layout, padded_batches = scores_and_batches(
        family_models[family], pairs, packed_batches="off", **flags
    )
    packed, packed_layout, packed_batches = scores_and_batches(
        family_models[family], pairs, packed_batches="on", **flags
    )

    assert padded_layout == "padded"
    assert packed_layout.startswith("packed")
    assert packed.scores == pytest.approx(padded.scores, abs=1e-5)
    assert packed.total_tokens == padded.total_tokens
    # The same pairs, no more tokens computed: a packed batch has no padding (and a shared prefix once).
    packed_tokens, padded_tokens = (sum(tokens for _, tokens in b) for b in (packed_batches, padded_batches))
    assert (
        packed_tokens < padded_tokens
        if lengths == "varied" or family.startswith("qwen3")
        else packed_tokens <= padded_tokens
    )


@pytest.mark.parametrize("family", ["qwen3-causal", "qwen3-seq-cls"])
@pytest.mark.parametrize("lengths", ["varied", "uniform"])
def test_should_score_the_same_with_and_without_prefix_reuse(family_models, family, lengths):
    pairs = varied_pairs(seed=1) if lengths == "varied" else uniform_pairs()
    options = ScoreOptions(use_activation=False, instruction="Find the passage that names a capital city")
    reused, layout, reused_batches = scores_and_batches(
        family_models[family], pairs, options, packed_batches="on", **FAMILY_FLAGS.get(family, {})
    )
    plain, plain_layout, plain_batches = scores_and_batches(
        family_models[family], pairs, options, packed_batches="on", prefix_reuse=False, **FAMILY_FLAGS.get(family, {})
    )

    assert "shared prompt prefixes" in layout and "shared" not in plain_layout
    assert reused.scores == pytest.approx(plain.scores, abs=1e-5)
    # The prompt, instruction and query are laid out once, not once per document.
    assert sum(tokens for _, tokens in reused_batches) < sum(tokens for _, tokens in plain_batches)


def test_should_reuse_prefixes_across_requests_batched_together(family_models):
    """Concurrent requests with different queries share a batch; each keeps its own prefix."""
    import asyncio

    first, second = varied_pairs(6, seed=2), varied_pairs(6, seed=3)

    async def together(engine):
        return await asyncio.gather(
            engine.score(first, ScoreOptions(use_activation=False)),
            engine.score(second, ScoreOptions(use_activation=False)),
        )

    flags = FAMILY_FLAGS["qwen3-causal"]
    reused = run_with_engine(family_models["qwen3-causal"], together, packed_batches="on", **flags)
    padded = run_with_engine(family_models["qwen3-causal"], together, packed_batches="off", **flags)
    for got, expected in zip(reused, padded):
        assert got.scores == pytest.approx(expected.scores, abs=1e-5)


def test_should_keep_padded_batches_where_the_architecture_is_not_known_to_pack(family_models):
    _, layout, _ = scores_and_batches(family_models["modernbert"], varied_pairs(4), packed_batches="on")
    assert layout == "padded"


def test_should_not_pack_model_code_from_outside_transformers(family_models):
    """A model's own code (trust_remote_code) may call itself "bert" and still ignore the spans."""
    from transformers import AutoModelForSequenceClassification

    from reranker.engine.packing import packing_for

    model = AutoModelForSequenceClassification.from_pretrained(family_models["bert"])
    assert packing_for(model, None) is not None
    remote = type("BertForSequenceClassification", (type(model),), {"__module__": "transformers_modules.acme.model"})
    model.__class__ = remote
    assert packing_for(model, None) is None


def test_should_pack_on_cpu_by_default(family_models):
    _, layout, _ = scores_and_batches(family_models["bert"], varied_pairs(3))
    assert layout == "packed"


# --- the layout itself ------------------------------------------------------------------------------


def ids(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int32)


def test_should_lay_encoder_pairs_end_to_end_and_read_their_first_tokens():
    batch = pack_encoder_pairs([ids(1, 2, 3), ids(4, 5)], [ids(0, 0, 1), ids(0, 1)], first_position=2)

    assert batch.input_ids.tolist() == [[1, 2, 3, 4, 5]]
    assert batch.token_type_ids.tolist() == [[0, 0, 1, 0, 1]]
    assert batch.position_ids.tolist() == [[2, 3, 4, 2, 3]]  # each pair's positions start again
    assert [(s.start, s.stop) for s in batch.spans] == [(0, 3), (3, 5)]
    assert batch.read.tolist() == [0, 3]


def test_should_lay_a_shared_prefix_once_and_continue_positions_after_it():
    prompts = [ids(7, 8, 9, 1), ids(7, 8, 9, 2, 3), ids(5, 6)]
    batch = pack_decoder_pairs(prompts, [3, 3, 0])

    assert batch.input_ids.tolist() == [[7, 8, 9, 1, 2, 3, 5, 6]]
    assert batch.position_ids.tolist() == [[0, 1, 2, 3, 3, 4, 0, 1]]
    spans = [(s.start, s.stop, s.context_start, s.context_stop) for s in batch.spans]
    assert spans == [(0, 3, 0, 0), (3, 4, 0, 3), (4, 6, 0, 3), (6, 8, 0, 0)]
    assert batch.read.tolist() == [3, 5, 7]  # each prompt's last token


def test_should_give_a_run_of_equal_length_pairs_one_attention_call():
    batch = pack_encoder_pairs([ids(1, 2), ids(3, 4), ids(5, 6, 7), ids(8, 9, 10)], None, first_position=0)
    assert [(s.start, s.stop, s.count) for s in batch.spans] == [(0, 4, 2), (4, 10, 2)]
    assert batch.read.tolist() == [0, 2, 4, 7]

    prompts = [ids(7, 8, 1), ids(7, 8, 2), ids(5, 6)]
    spans = pack_decoder_pairs(prompts, [2, 2, 0]).spans
    # The prefix, then both one-token remainders behind it in one call, then the lone prompt.
    assert [(s.start, s.stop, s.context_start, s.context_stop, s.count) for s in spans] == [
        (0, 2, 0, 0, 1),
        (2, 4, 0, 2, 2),
        (4, 6, 0, 0, 1),
    ]


def test_should_refuse_a_prefix_that_leaves_a_prompt_nothing_of_its_own():
    with pytest.raises(ValueError):
        pack_decoder_pairs([ids(1, 2)], [2])


@pytest.mark.parametrize(
    ("prompts", "expected"),
    [
        ([ids(1, 2, 3)], 0),  # one prompt: nothing to share
        ([ids(1, 2, 3, 4), ids(1, 2, 5)], 2),
        ([ids(1, 2, 3), ids(1, 2, 3)], 2),  # identical prompts keep their last token
        ([ids(1, 2), ids(1, 2, 3, 4)], 1),  # one is a prefix of the other
        ([ids(9, 2), ids(1, 2)], 0),
    ],
)
def test_should_find_the_prefix_a_requests_prompts_share(prompts, expected):
    assert shared_prefix(prompts) == expected


def test_should_budget_a_packed_batch_by_its_real_tokens():
    lengths = [10, 90, 30, 60]
    assert plan_batches(lengths, max_batch_tokens=100, packed=True) == [[0, 2, 3], [1]]
    # Padded, the same budget holds fewer: pairs x the longest.
    assert plan_batches(lengths, max_batch_tokens=100) == [[0, 2], [3], [1]]
    assert plan_batches([10, 10, 10, 80], max_batch_tokens=120, packed=True) == [[0, 1, 2, 3]]
    assert plan_batches([10, 10, 10, 80], max_batch_tokens=120) == [[0, 1, 2], [3]]


@pytest.mark.parametrize(("dtype", "tolerance"), [("float32", 1e-5), ("bfloat16", 2e-2)])
def test_should_attend_to_one_shared_prefix_as_to_a_copy_per_pair(dtype, tolerance):
    """Pairs attend to the shared prefix in one call and to themselves in another, merged by
    log-sum-exp: the same as attention over the prefix copied before every pair, masked causally."""
    import torch
    from torch.nn.functional import scaled_dot_product_attention

    from reranker.engine.packing import _attend_with_prefix, _prefixed_causal_mask

    torch.manual_seed(0)
    count, heads, length, prefix, size = 5, 4, 7, 23, 32
    as_dtype = getattr(torch, dtype)
    q, k, v = (torch.randn(count, heads, length, size).to(as_dtype) for _ in range(3))
    prefix_k, prefix_v = (torch.randn(1, heads, prefix, size).to(as_dtype) for _ in range(2))

    merged = _attend_with_prefix(q, k, v, prefix_k, prefix_v, None)

    copied_k = torch.cat([prefix_k.expand(count, -1, -1, -1), k], dim=2)
    copied_v = torch.cat([prefix_v.expand(count, -1, -1, -1), v], dim=2)
    mask = _prefixed_causal_mask(length, prefix, q.device)
    reference = scaled_dot_product_attention(q.float(), copied_k.float(), copied_v.float(), attn_mask=mask)
    assert merged.dtype == as_dtype and merged.shape == q.shape
    torch.testing.assert_close(merged.float(), reference, rtol=tolerance, atol=tolerance)


def test_should_count_a_shared_prefix_once_per_batch_that_computes_it(family_models):
    """The batch metrics count what each batch computes: the pairs' own tokens and the shared
    prompt prefix once per batch, however the request was split into batches."""
    pairs, flags = varied_pairs(12, seed=4), FAMILY_FLAGS["qwen3-causal"]
    options = ScoreOptions(use_activation=False, instruction="Find the passage that names a capital city")
    model = family_models["qwen3-causal"]
    whole, _, (one_batch,) = scores_and_batches(model, pairs, options, packed_batches="on", model_workers=1, **flags)
    # Every pair's prompt in full is total_tokens; one batch computes the prefix once instead of 12 times.
    prefix, rest = divmod(whole.total_tokens - one_batch[1], len(pairs) - 1)
    assert rest == 0 and prefix > 0

    split, _, batches = scores_and_batches(
        model, pairs, options, packed_batches="on", model_workers=1, max_batch_tokens=one_batch[1] // 3, **flags
    )
    assert len(batches) > 1 and sum(items for items, _ in batches) == len(pairs)
    assert sum(tokens for _, tokens in batches) == whole.total_tokens - (len(pairs) - len(batches)) * prefix
    assert split.scores == pytest.approx(whole.scores, abs=1e-5)
