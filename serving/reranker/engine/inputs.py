"""Turn (query, document) pairs into model inputs within the model's token limit.

Shared by the engines so that truncation, rejection and token counts mean the same whichever
engine serves. Only documents are ever cut, never the query: a query that leaves no room for
a document is an error under either policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .base import InputTooLongError, TruncationPolicy


@dataclass(frozen=True)
class EmbeddingInputs:
    """What an embedding model must embed to score some pairs: each distinct text once."""

    documents: list[str]  # the pairs' documents, after max_tokens_per_doc
    texts: list[str]  # distinct texts to embed (queries first)
    token_ids: list[list[int]]  # one per text

    @property
    def total_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


@dataclass(frozen=True)
class EncodedPair:
    input_ids: list[int]
    token_type_ids: list[int] | None  # None where the model has no segment embeddings


def cut_to_tokens(tokenizer: Any, texts: Sequence[str], max_tokens: int | None) -> list[str]:
    """Each text cut after its first ``max_tokens`` tokens (at a token boundary of the text)."""
    if max_tokens is None:
        return list(texts)
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    cut = []
    for text, offsets in zip(texts, encoded["offset_mapping"]):
        cut.append(text if len(offsets) <= max_tokens else text[: offsets[max_tokens - 1][1]])
    return cut


def encode_pairs(
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
) -> list[EncodedPair]:
    """Tokenize cross-encoder pairs as ``[CLS] query [SEP] document [SEP]`` (model's own format)."""
    queries = [q for q, _ in pairs]
    documents = cut_to_tokens(tokenizer, [d for _, d in pairs], max_tokens_per_doc)
    special = tokenizer.num_special_tokens_to_add(pair=True)
    unique_queries = list(dict.fromkeys(queries))
    query_lengths = dict(
        zip(unique_queries, map(len, tokenizer(unique_queries, add_special_tokens=False)["input_ids"]))
    )
    doc_lengths = [len(ids) for ids in tokenizer(documents, add_special_tokens=False)["input_ids"]]
    for index, (query, doc_len) in enumerate(zip(queries, doc_lengths)):
        room = max_len - special - query_lengths[query]
        if room < 1:
            raise InputTooLongError(
                f"query is {query_lengths[query]} tokens: with {special} special tokens it leaves no "
                f"room for a document within the model's limit of {max_len} tokens",
                pair_index=index,
            )
        if doc_len > room and policy is TruncationPolicy.REJECT:
            raise InputTooLongError(
                f"document {index} is too long: {query_lengths[query] + doc_len + special} tokens "
                f"with the query, the model's limit is {max_len}",
                pair_index=index,
            )
    encoded = tokenizer(queries, documents, truncation="only_second", max_length=max_len)
    type_ids = encoded.get("token_type_ids") if "token_type_ids" in tokenizer.model_input_names else None
    return [
        EncodedPair(ids, type_ids[i] if type_ids is not None else None)
        for i, ids in enumerate(encoded["input_ids"])
    ]


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    max_len: int,
    policy: TruncationPolicy,
) -> list[list[int]]:
    """Tokenize single texts (embedding models), each within ``max_len`` tokens."""
    if policy is TruncationPolicy.TRUNCATE:
        return tokenizer(list(texts), truncation=True, max_length=max_len)["input_ids"]
    encoded = tokenizer(list(texts), truncation=False)["input_ids"]
    for index, ids in enumerate(encoded):
        if len(ids) > max_len:
            raise InputTooLongError(
                f"text {index} is too long: {len(ids)} tokens, the model's limit is {max_len}",
                pair_index=index,
            )
    return encoded


def encode_embedding_pairs(
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
) -> EmbeddingInputs:
    """Tokenize the distinct texts of the pairs (a rerank request embeds its query once)."""
    queries = list(dict.fromkeys(q for q, _ in pairs))
    documents = cut_to_tokens(tokenizer, [d for _, d in pairs], max_tokens_per_doc)
    texts = list(dict.fromkeys([*queries, *documents]))
    try:
        ids = encode_texts(tokenizer, texts, max_len, policy)
    except InputTooLongError as exc:
        raise _name_text(exc, texts[exc.pair_index], queries, documents) from None
    return EmbeddingInputs(documents, texts, ids)


def cosine_scores(pairs: Sequence[tuple[str, str]], inputs: EmbeddingInputs, vectors: Sequence[Any]) -> list[float]:
    """Cosine similarity of each pair's embeddings (``vectors`` align with ``inputs.texts``)."""
    import torch

    by_text = dict(zip(inputs.texts, vectors))
    scores = []
    for (query, _), document in zip(pairs, inputs.documents):
        cosine = torch.nn.functional.cosine_similarity(by_text[query].float(), by_text[document].float(), dim=0)
        scores.append(min(1.0, max(-1.0, float(cosine))))  # rounding can step past +-1
    return scores


def _name_text(exc: InputTooLongError, text: str, queries: list[str], documents: list[str]) -> InputTooLongError:
    """Re-word a text error to name the query or the document the client sent."""
    detail = str(exc).split(": ", 1)[1]
    if text in queries:
        return InputTooLongError(f"query is too long: {detail}", pair_index=queries.index(text))
    index = documents.index(text)
    return InputTooLongError(f"document {index} is too long: {detail}", pair_index=index)
