"""Pairs and texts into model inputs within the model's token limit: one policy for all.

Only documents are ever cut, never the query: a query that does not fit (leaves no room for a
document, or for an embedding model exceeds the limit itself) is an error under any policy. The
truncate / reject / chunk policy is applied in one place (``_apply_policy``) for cross-encoder
pairs, LLM-reranker prompts and embedding texts; under the chunk policy a long document is
scored in windows (``ScoringInputs.owners`` says whose). ``max_request_tokens`` bounds the
tokens one request makes the model process. Every encoder takes the same ``InputLimits``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..base import InputTooLongError, RequestTooLargeError, TruncationPolicy
from .prompt import Prompt
from .tokens import CHUNK_READ_CAP, COUNT_CAP, COUNT_FACTOR, EncodedPair, TextTokens, TokenReader


@dataclass(frozen=True)
class InputLimits:
    """What bounds the model inputs of one request's pairs."""

    max_len: int  # the model's tokens per input (a pair, a prompt, or one embedded text)
    policy: TruncationPolicy  # what becomes of a document over max_len
    max_tokens_per_doc: int | None = None  # the request's cut of each document, before the policy
    max_request_tokens: int | None = None  # the most tokens the request may make the model process
    max_chunks: int | None = None  # windows of one document under CHUNK (Cohere's max_chunks_per_doc)
    limit_name: str = "the model's limit"  # what max_len is, in messages


@dataclass(frozen=True)
class ScoringInputs:
    """What a cross-encoder scores for some pairs: one model input per pair, or several for a
    document chunked into windows (the pair's score is then its best window's)."""

    encoded: list[EncodedPair]
    owners: list[int]  # per input: the index of its pair

    @property
    def total_tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.encoded)


@dataclass(frozen=True)
class EmbeddingInputs:
    """What an embedding model must embed to score some pairs: each distinct input once."""

    token_ids: list[np.ndarray]  # int32, one per distinct input (queries first), special tokens included
    query_index: list[int]  # per pair: its query's row in token_ids
    document_index: list[int]  # per pair: its document's row

    @property
    def total_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)


def _capped(tokens: TextTokens, need: int) -> bool:
    """The read limit was hit before ``need`` tokens: the text's length is unknown."""
    return not tokens.complete and tokens.length < need


def _size(reader: TokenReader, text: str, tokens: TextTokens, need: int, limit: int, extra: int = 0) -> str:
    """How long a refused text is, for its message: its tokens (plus ``extra``), counted up to
    COUNT_FACTOR times the model's ``limit``."""
    if _capped(tokens, need):
        return f"more than {tokens.chars_read} characters (the most the server reads of one text)"
    at_most = max(need, min(limit * COUNT_FACTOR, COUNT_CAP))
    counted = reader.read([text], [at_most + 1])[0]
    if counted.complete:
        return f"{counted.length + extra} tokens"
    return f"more than {at_most + extra} tokens"


def _document_size(
    reader: TokenReader, document: str, tokens: TextTokens, need: int, limit: int, cut: int | None, extra: int
) -> str:
    if cut is not None and cut <= tokens.length:  # max_tokens_per_doc cut it: that many it is
        return f"{cut + extra} tokens"
    return _size(reader, document, tokens, need, limit, extra)


def _check_total(total: int, pairs: int, max_request_tokens: int | None) -> None:
    if max_request_tokens is not None and total > max_request_tokens:
        raise RequestTooLargeError(total, max_request_tokens, pairs)


def _document_budget(room: int, max_tokens_per_doc: int | None) -> tuple[int, int]:
    """(tokens to read of a document, tokens it keeps before the policy applies)."""
    keep = max_tokens_per_doc if max_tokens_per_doc is not None else room + 1
    return min(keep, room + 1), keep


def _first_pair(pairs: Sequence[tuple[str, str]], query: str) -> int:
    return next(i for i, (q, _) in enumerate(pairs) if q == query)


@dataclass(frozen=True)
class _Read:
    """A document (or prompt body) read for the policy: its leading tokens and its budget."""

    text: str
    tokens: TextTokens
    need: int  # tokens read: one past the room, or max_tokens_per_doc
    keep: int  # tokens it keeps before the policy applies (max_tokens_per_doc, else all)
    room: int  # tokens that fit beside its query

    @property
    def overflows(self) -> bool:
        return min(self.tokens.length, self.keep) > self.room or _capped(self.tokens, self.need)

    @property
    def kept(self) -> int:
        return min(self.tokens.length, self.keep, self.room)


def _apply_policy(
    reads: Sequence[_Read], policy: TruncationPolicy, refusal: Callable[[int, _Read], str]
) -> tuple[list[int], list[bool]]:
    """The truncation policy, for every kind of input: (tokens each keeps, whether each is to be
    chunked). Under REJECT an overflowing input is refused with ``refusal(index, read)``; under
    TRUNCATE it keeps what fits; under CHUNK it keeps what fits in its first window and is
    marked for ``_chunked``."""
    lengths: list[int] = []
    chunk: list[bool] = []
    for index, read in enumerate(reads):
        overflow = read.overflows
        if policy is TruncationPolicy.REJECT and overflow:
            raise InputTooLongError(refusal(index, read), pair_index=index)
        lengths.append(read.kept)
        chunk.append(overflow and policy is TruncationPolicy.CHUNK)
    return lengths, chunk


def _read_queries(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    texts: dict[str, str],
    need: int,
    refusal: Callable[[str, TextTokens], str],
) -> dict[str, TextTokens]:
    """Each distinct query's tokens (``texts``: what is read for it, the query or its prompt
    head); a query that does not fit (``need`` tokens or more) is refused whatever the policy."""
    read = dict(zip(texts, reader.read(list(texts.values()), [need] * len(texts))))
    for query, tokens in read.items():
        if not tokens.complete or tokens.length >= need:
            raise InputTooLongError(refusal(query, tokens), pair_index=_first_pair(pairs, query))
    return read


def _scoring_inputs(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    firsts: list[EncodedPair],
    chunk: list[bool],
    window_rooms: list[int],
    window: Callable[[int, list[int]], EncodedPair],
    limits: InputLimits,
) -> ScoringInputs:
    """One model input per pair (``firsts``: from the tokens each kept), or, for those marked to
    chunk, one per window of their document (``window``: a window beside its query)."""
    if not any(chunk):
        _check_total(sum(len(e.input_ids) for e in firsts), len(pairs), limits.max_request_tokens)
        return ScoringInputs(firsts, list(range(len(pairs))))
    return _chunked(reader, pairs, firsts, chunk, window_rooms, window, limits)


def encode_pair_inputs(reader: TokenReader, pairs: Sequence[tuple[str, str]], limits: InputLimits) -> ScoringInputs:
    """Tokenize cross-encoder pairs as ``[CLS] query [SEP] document [SEP]`` (model's own format).

    The same ids as ``tokenizer(queries, documents, truncation="only_second", max_length=max_len)``
    after each document is cut to ``max_tokens_per_doc`` tokens, without tokenizing more of a
    document than fits. Under the chunk policy a document too long is split into windows.
    """
    max_len, max_tokens_per_doc = limits.max_len, limits.max_tokens_per_doc
    special = reader.special_pair
    query_room = max_len - special  # a query must leave at least one token for the document
    queries = _read_queries(
        reader,
        pairs,
        {q: q for q, _ in pairs},
        query_room,
        lambda query, tokens: (
            f"query is {_size(reader, query, tokens, query_room, max_len)}: with {special} special "
            f"tokens it leaves no room for a document within {limits.limit_name} of {max_len} tokens"
        ),
    )
    rooms = [query_room - queries[q].length for q, _ in pairs]
    budgets = [_document_budget(room, max_tokens_per_doc) for room in rooms]
    documents = reader.read([d for _, d in pairs], [need for need, _ in budgets])
    reads = [
        _Read(d, tokens, need, keep, room)
        for (_, d), tokens, (need, keep), room in zip(pairs, documents, budgets, rooms)
    ]

    def refusal(index: int, read: _Read) -> str:
        extra = queries[pairs[index][0]].length + special
        size = _document_size(reader, read.text, read.tokens, read.need, max_len, max_tokens_per_doc, extra)
        return f"document {index} is too long: {size} with the query, {limits.limit_name} is {max_len}"

    lengths, chunk = _apply_policy(reads, limits.policy, refusal)

    def pair(index: int, document: list[int]) -> EncodedPair:
        return reader.pair(queries[pairs[index][0]].ids, document)

    firsts = [pair(index, read.tokens.ids[:n]) for index, (read, n) in enumerate(zip(reads, lengths))]
    return _scoring_inputs(reader, pairs, firsts, chunk, rooms, pair, limits)


def encode_prompted_pairs(
    reader: TokenReader,
    prompt: Prompt,
    instruction: str | None,
    pairs: Sequence[tuple[str, str]],
    limits: InputLimits,
) -> ScoringInputs:
    """Each pair in an LLM reranker's template, tokenized as its model card does: prefix, the
    body (instruction, query, document) as one text cut at its end to fit, suffix.

    ``max_tokens_per_doc`` counts the body's tokens after the query's part (the document's, give
    or take the one token where the two meet).
    """
    max_len, max_tokens_per_doc = limits.max_len, limits.max_tokens_per_doc
    room = max_len - prompt.fixed  # the body's tokens
    heads = {q: prompt.template.body_head(q, instruction) for q, _ in pairs}
    head_tokens = _read_queries(
        reader,
        pairs,
        heads,
        room,
        lambda query, tokens: (
            f"query is {_size(reader, heads[query], tokens, room, max_len, prompt.fixed)} with the "
            f"instruction and the prompt template: it leaves no room for a document within the "
            f"{limits.limit_name} of {max_len} tokens"
        ),
    )
    bodies = [heads[q] + d for q, d in pairs]
    budgets = []
    for query, _ in pairs:
        keep = head_tokens[query].length + max_tokens_per_doc if max_tokens_per_doc is not None else room + 1
        budgets.append((min(keep, room + 1), keep))
    read = reader.read(bodies, [need for need, _ in budgets])
    reads = [_Read(body, tokens, need, keep, room) for body, tokens, (need, keep) in zip(bodies, read, budgets)]

    def refusal(index: int, body: _Read) -> str:
        size = _size(reader, body.text, body.tokens, body.need, max_len, prompt.fixed)
        return (
            f"document {index} is too long: {size} with the query and the prompt template, the "
            f"{limits.limit_name} is {max_len}"
        )

    lengths, chunk = _apply_policy(reads, limits.policy, refusal)
    heads_ids = [head_tokens[q].ids for q, _ in pairs]

    def window(index: int, document: list[int]) -> EncodedPair:
        return prompt.wrap([*heads_ids[index], *document])

    # The first input is the body as read: head and document together.
    firsts = [prompt.wrap(read.tokens.ids[:n]) for read, n in zip(reads, lengths)]
    return _scoring_inputs(reader, pairs, firsts, chunk, [room - len(ids) for ids in heads_ids], window, limits)


def _chunked(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    firsts: list[EncodedPair],
    overflows: list[bool],
    rooms: list[int],
    build: Callable[[int, list[int]], EncodedPair],
    limits: InputLimits,
) -> ScoringInputs:
    """The pairs whose document overflows, split into windows of ``rooms[i]`` document tokens
    (``build`` puts a window beside its query); the others as they are.

    Each long document is read only as far as the request's token budget still reaches, one
    after another, so a request over --max_request_tokens costs about that many tokens of
    reading before its 413.
    """
    limit = limits.max_request_tokens if limits.max_request_tokens is not None else CHUNK_READ_CAP
    total = sum(len(e.input_ids) for e, chunk in zip(firsts, overflows) if not chunk)
    encoded: list[EncodedPair] = []
    owners: list[int] = []
    for index, (first, chunk) in enumerate(zip(firsts, overflows)):
        if not chunk:
            encoded.append(first)
            owners.append(index)
            continue
        room = rooms[index]
        need = max(limit - total, room) + 1  # one past the budget: enough to see it is exceeded
        if limits.max_tokens_per_doc is not None:
            need = min(need, limits.max_tokens_per_doc)
        if limits.max_chunks is not None:  # the rest of the document is not read
            need = min(need, room * limits.max_chunks)
        document = reader.read([pairs[index][1]], [need])[0].ids[:need]
        for start in range(0, len(document), room):
            window = build(index, document[start : start + room])
            total += len(window.input_ids)
            encoded.append(window)
            owners.append(index)
        _check_total(total, len(pairs), limit)
    return ScoringInputs(encoded, owners)


def encode_embedding_pairs(
    reader: TokenReader, pairs: Sequence[tuple[str, str]], limits: InputLimits
) -> EmbeddingInputs:
    """Tokenize the distinct inputs of the pairs (a rerank request embeds its query once).

    Each text as ``tokenizer(text, truncation=True, max_length=max_len)`` would give it, a
    document first cut to ``max_tokens_per_doc`` tokens; a query over the limit is refused
    whatever the policy (only documents are cut).
    """
    max_len, max_tokens_per_doc = limits.max_len, limits.max_tokens_per_doc
    special = reader.special_single
    room = max_len - special
    query_tokens = _read_queries(
        reader,
        pairs,
        {q: q for q, _ in pairs},
        room + 1,
        lambda query, tokens: (
            f"query is too long: {_size(reader, query, tokens, room + 1, max_len, special)}, "
            f"{limits.limit_name} is {max_len}"
        ),
    )
    need, keep = _document_budget(room, max_tokens_per_doc)
    documents = reader.read([d for _, d in pairs], [need] * len(pairs))
    reads = [_Read(d, tokens, need, keep, room) for (_, d), tokens in zip(pairs, documents)]

    def refusal(index: int, read: _Read) -> str:
        size = _document_size(reader, read.text, read.tokens, need, max_len, max_tokens_per_doc, special)
        return f"document {index} is too long: {size}, {limits.limit_name} is {max_len}"

    # An embedding is of one whole text: under the chunk policy a long document keeps what fits,
    # as under truncate.
    lengths, _ = _apply_policy(reads, limits.policy, refusal)

    rows: dict[tuple[int, ...], int] = {}  # each distinct input once
    query_rows = {
        query: rows.setdefault(tuple(reader.single(tokens.ids)), len(rows)) for query, tokens in query_tokens.items()
    }
    document_rows = [
        rows.setdefault(tuple(reader.single(tokens.ids[:n])), len(rows)) for tokens, n in zip(documents, lengths)
    ]
    inputs = EmbeddingInputs(
        [np.asarray(ids, np.int32) for ids in rows], [query_rows[q] for q, _ in pairs], document_rows
    )
    _check_total(inputs.total_tokens, len(pairs), limits.max_request_tokens)
    return inputs
