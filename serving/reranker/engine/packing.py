"""Padding-free ("packed") model batches for the torch engine.

A padded batch computes every pair at the length of its longest. On documents of varied length,
which is what retrieval hands a reranker, much of that work is padding. A packed batch lays its
pairs end to end as one sequence. The linear layers, which take most of the time, then see only
real tokens. Attention runs per pair over the pair's own span, through transformers' attention
interface. Each pair's score is read at its first token (encoder classifiers) or its last
(decoders). This is the varlen layout of FlashAttention and vLLM, on any device.

LLM rerankers put the same prompt prefix (system prompt, instruction, query) before every
document of a request. Where pairs share such a prefix, it is laid out once in the batch, and
each pair's remaining tokens attend to it and, causally, to themselves: the prefix is computed
once per batch instead of once per document.

Only architectures whose code is known to take explicit position ids and to route attention
through the interface are packed (``packing_for``); the others keep padded batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn.functional import scaled_dot_product_attention
from transformers import AttentionInterface

# The name the attention function is registered under (transformers' attention interface).
PACKED_ATTENTION = "reranker_packed"


@dataclass(frozen=True)
class Span:
    """Tokens ``[start, stop)`` of the packed sequence: ``count`` pairs of equal length end to end
    (one attention call serves them all), each attending to itself and to a shared prefix at
    ``[context_start, context_stop)`` when one precedes it (decoders)."""

    start: int
    stop: int
    context_start: int = 0
    context_stop: int = 0
    count: int = 1


@dataclass
class PackedBatch:
    input_ids: torch.Tensor  # [1, T]
    position_ids: torch.Tensor  # [1, T]
    token_type_ids: torch.Tensor | None  # [1, T], encoders with segment embeddings
    spans: list[Span]  # in order, covering every token once
    read: torch.Tensor  # [pairs]: the token each pair's score is read at, in the pairs' order

    def to(self, device: torch.device) -> PackedBatch:
        move: Callable[[Any], Any] = lambda t: None if t is None else t.to(device)  # noqa: E731
        return PackedBatch(
            move(self.input_ids), move(self.position_ids), move(self.token_type_ids), self.spans, move(self.read)
        )


def pack_encoder_pairs(
    input_ids: Sequence[np.ndarray], token_type_ids: Sequence[np.ndarray] | None, first_position: int
) -> PackedBatch:
    """Pairs end to end, each attending to itself only and read at its first token ([CLS])."""
    lengths = [len(ids) for ids in input_ids]
    starts = np.cumsum([0, *lengths[:-1]])
    spans = _runs_of_equal_length([Span(int(s), int(s) + n) for s, n in zip(starts, lengths)])
    positions = np.concatenate([np.arange(n) for n in lengths]) + first_position
    types = None if token_type_ids is None else _row(np.concatenate(token_type_ids))
    return PackedBatch(
        _row(np.concatenate(input_ids)), _row(positions), types, spans, torch.as_tensor(starts, dtype=torch.long)
    )


def pack_decoder_pairs(input_ids: Sequence[np.ndarray], shared: Sequence[int]) -> PackedBatch:
    """Decoder prompts, read at their last token. Pairs whose first ``shared[i]`` tokens are the
    same are laid out after one copy of them: positions continue from the prefix, and attention
    sees the prefix and, causally, the pair's own tokens. ``shared[i]`` is below the pair's length."""
    pieces: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    spans: list[Span] = []
    read = [0] * len(input_ids)
    prefixes: dict[bytes, tuple[int, int]] = {}  # prefix tokens -> where they were laid out
    cursor = 0

    def lay(tokens: np.ndarray, first_position: int, context: tuple[int, int] = (0, 0)) -> int:
        nonlocal cursor
        start, cursor = cursor, cursor + len(tokens)
        pieces.append(tokens)
        positions.append(np.arange(first_position, first_position + len(tokens)))
        spans.append(Span(start, cursor, *context))
        return start

    for index, (ids, prefix_len) in enumerate(zip(input_ids, shared)):
        if not 0 <= prefix_len < len(ids):
            raise ValueError(f"a shared prefix of {prefix_len} tokens leaves nothing of a {len(ids)}-token pair")
        context = (0, 0)
        if prefix_len:
            key = ids[:prefix_len].tobytes()
            if key not in prefixes:
                start = lay(ids[:prefix_len], 0)
                prefixes[key] = (start, start + prefix_len)
            context = prefixes[key]
        start = lay(ids[prefix_len:], prefix_len, context)
        read[index] = start + len(ids) - prefix_len - 1
    return PackedBatch(
        _row(np.concatenate(pieces)),
        _row(np.concatenate(positions)),
        None,
        _runs_of_equal_length(spans),
        torch.as_tensor(read, dtype=torch.long),
    )


def _runs_of_equal_length(spans: list[Span]) -> list[Span]:
    """Consecutive spans of one length and context merged into one (batches are sorted by length,
    so uniform pairs take one attention call per layer instead of one per pair)."""
    merged: list[Span] = []
    for span in spans:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.stop == span.start
            and (last.stop - last.start) // last.count == span.stop - span.start
            and (last.context_start, last.context_stop) == (span.context_start, span.context_stop)
        ):
            merged[-1] = Span(last.start, span.stop, last.context_start, last.context_stop, last.count + 1)
        else:
            merged.append(span)
    return merged


def shared_prefix(input_ids: Sequence[np.ndarray]) -> int:
    """How many leading tokens all of a request's prompts share, leaving each at least one own
    token (its last, where it is read). 0 for a single prompt: nothing to share."""
    if len(input_ids) < 2:
        return 0
    shortest = min(len(ids) for ids in input_ids)
    first = input_ids[0][:shortest]
    same = np.ones(shortest, dtype=bool)
    for ids in input_ids[1:]:
        same &= ids[:shortest] == first
    differs = np.flatnonzero(~same)
    common = int(differs[0]) if differs.size else shortest
    return min(common, shortest - 1)


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    packed_spans: Sequence[Span] | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Attention over a packed batch: query, key and value are [1, heads, tokens, head size]."""
    if packed_spans is None:
        raise RuntimeError("packed attention called without the batch's spans")
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:  # grouped-query attention: each key/value head serves several query heads
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    causal = bool(getattr(module, "is_causal", False))
    outputs = []
    for span in packed_spans:
        length = (span.stop - span.start) // span.count
        # [count, heads, length, head size]: the span's pairs side by side, as a batch
        q, k, v = (_pairs(x[0, :, span.start : span.stop], span.count, length) for x in (query, key, value))
        if span.context_stop > span.context_start:
            context = [x[:, :, span.context_start : span.context_stop] for x in (key, value)]
            if attends_prefix_once(q.device):
                out = _attend_with_prefix(q, k, v, context[0], context[1], scaling)
            else:  # the prefix copied to every pair: pairs x prefix keys and values in memory
                context = [x.expand(span.count, -1, -1, -1) for x in context]
                k, v = torch.cat([context[0], k], dim=2), torch.cat([context[1], v], dim=2)
                mask = _prefixed_causal_mask(length, span.context_stop - span.context_start, q.device)
                out = scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scaling)
        else:
            out = scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scaling)
        outputs.append(out.transpose(0, 1).reshape(out.shape[1], span.stop - span.start, out.shape[3]))
    # [heads, tokens, head size] -> [1, tokens, heads, head size], as the interface returns it
    return torch.cat(outputs, dim=1).transpose(0, 1).unsqueeze(0), None


# CPU flash attention that also returns each query's log-sum-exp (torch's own SDPA kernel on CPU).
_CPU_ATTENTION_WITH_LSE = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def attends_prefix_once(device: torch.device | None) -> bool:
    """Whether packed attention on ``device`` reads a shared prefix once for all its pairs (else
    it copies the prefix's keys and values to every pair)."""
    return device is not None and device.type == "cpu" and _CPU_ATTENTION_WITH_LSE is not None


def _attend_with_prefix(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    prefix_k: torch.Tensor,
    prefix_v: torch.Tensor,
    scale: float | None,
) -> torch.Tensor:
    """Attention of ``count`` pairs ([count, heads, length, head size]) over one shared prefix
    ([1, heads, prefix, head size]) and, causally, their own tokens, without a copy of the prefix
    per pair: every pair's queries attend to the one prefix in a single call, each pair attends
    to itself in another, and the two halves are merged by their log-sum-exp (as cascade and
    shared-prefix attention kernels do). Memory is that of the pairs' own tokens."""
    count, heads, length, size = q.shape
    assert _CPU_ATTENTION_WITH_LSE is not None
    # All pairs' queries as one sequence: nothing masked, every query sees the whole prefix.
    flat = q.transpose(0, 1).reshape(1, heads, count * length, size)
    on_prefix, prefix_lse = _CPU_ATTENTION_WITH_LSE(flat, prefix_k, prefix_v, 0.0, False, scale=scale)[:2]
    on_prefix = on_prefix.reshape(heads, count, length, size).transpose(0, 1)
    prefix_lse = prefix_lse.reshape(heads, count, length).transpose(0, 1)
    on_own, own_lse = _CPU_ATTENTION_WITH_LSE(q, k, v, 0.0, True, scale=scale)[:2]
    # softmax over prefix and own keys = each half's softmax weighted by its share of the total.
    top = torch.maximum(prefix_lse, own_lse)
    prefix_weight, own_weight = torch.exp(prefix_lse - top), torch.exp(own_lse - top)
    total = prefix_weight + own_weight
    merged = on_prefix.float() * (prefix_weight / total).unsqueeze(-1) + on_own.float() * (
        own_weight / total
    ).unsqueeze(-1)
    return merged.to(q.dtype)


def _pairs(tokens: torch.Tensor, count: int, length: int) -> torch.Tensor:
    """[heads, count x length, head size] -> [count, heads, length, head size]."""
    return tokens.reshape(tokens.shape[0], count, length, tokens.shape[2]).transpose(0, 1)


AttentionInterface.register(PACKED_ATTENTION, packed_attention)


def _prefixed_causal_mask(length: int, prefix: int, device: torch.device) -> torch.Tensor:
    """[length, prefix + length]: every token sees the prefix, and its own tokens up to itself."""
    own = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    return torch.cat([torch.ones(length, prefix, dtype=torch.bool, device=device), own], dim=1)


def _row(values: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(values.astype(np.int64, copy=False)).unsqueeze(0)


# --- which models pack, and how their scores are read -------------------------------------------------

Head = Callable[[torch.Tensor], torch.Tensor]  # the read tokens' hidden states [pairs, hidden] -> scores


@dataclass(frozen=True)
class Packing:
    """How one architecture runs packed: its base model, where positions start, and its head."""

    causal: bool  # a decoder: read at the last token, shared prefixes reused
    first_position: int  # an encoder's first position id (RoBERTa's start after the padding id)
    head: Head


# Encoder classifiers, by model type: how the head turns [CLS] states into logits. These
# architectures route attention through transformers' attention interface and take position ids.
def _bert_head(model: Any) -> Head:
    return lambda cls: model.classifier(model.bert.pooler(cls.unsqueeze(1)))


def _roberta_head(model: Any) -> Head:
    return lambda cls: model.classifier(cls.unsqueeze(1))  # the head reads features[:, 0]


_ENCODERS: dict[str, Callable[[Any], Head]] = {
    "bert": _bert_head,
    "roberta": _roberta_head,
    "xlm-roberta": _roberta_head,
}
# Decoders whose attention honours the interface and whose positions are the given position ids.
_DECODERS = {"qwen3", "qwen2", "llama"}


def packing_for(model: Any, answer: torch.Tensor | None) -> Packing | None:
    """The packing of ``model`` (a sequence classifier, or a causal LM scored along ``answer``),
    or None where its architecture is not known to pack correctly."""
    if not type(model).__module__.startswith("transformers."):
        return None  # remote code: its attention need not honour the spans, whatever its model type
    config = model.config
    model_type = getattr(config, "model_type", None)
    if model_type in _ENCODERS and answer is None and not getattr(config, "is_decoder", False):
        if getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
            return None  # relative position embeddings take no position ids
        first = config.pad_token_id + 1 if model_type != "bert" else 0
        return Packing(False, first, _ENCODERS[model_type](model))
    if model_type in _DECODERS and not getattr(config, "use_sliding_window", False):
        if answer is not None:
            return Packing(True, 0, lambda states: states.float() @ answer)
        score = getattr(model, "score", None)
        if isinstance(score, torch.nn.Linear):
            return Packing(True, 0, score)
    return None


def run_packed(model: Any, packing: Packing, batch: PackedBatch) -> torch.Tensor:
    """Scores [pairs, labels] (or [pairs] for a causal LM's answer direction) of a packed batch."""
    features: dict[str, Any] = {"input_ids": batch.input_ids, "position_ids": batch.position_ids}
    if batch.token_type_ids is not None:
        features["token_type_ids"] = batch.token_type_ids
    if packing.causal:
        features["use_cache"] = False
    hidden = model.base_model(**features, packed_spans=batch.spans).last_hidden_state
    return packing.head(hidden[0, batch.read])
