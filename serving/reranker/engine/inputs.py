"""Turn (query, document) pairs into model inputs within the model's token limit.

Shared by the engines so that truncation, rejection and token counts mean the same whichever
engine serves. Only documents are ever cut, never the query: a query that does not fit (leaves no
room for a document, or for an embedding model exceeds the limit itself) is an error under
either policy.

Bounded work: no text is tokenized whole. A model reads at most ``max_model_len`` tokens of a
text, so only a prefix of its characters is tokenized, one long enough to hold the tokens that
can be used (``TokenReader.read``); a 15 MB document costs what its first few kilobytes cost.
The ids are the ones tokenizing the whole text would give: tokens near the cut (a word cut in
two) are dropped, and the prefix grows while it holds too few. ``max_request_tokens`` bounds the
tokens one request makes the model process.

LLM rerankers read each pair inside their prompt template (``encode_prompted_pairs``); under the
chunk policy a long document is scored in windows (``ScoringInputs.owners`` says whose).
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import InputTooLongError, RequestTooLargeError, TruncationPolicy
from .families import PromptTemplate

# First guess of the characters that hold a token: natural text makes one every 3 to 6.
CHARS_PER_TOKEN = 8
# Which tokens of a prefix are the whole text's: those of the words (the pre-tokenizer's
# pieces) that end before the prefix's last word, which the cut may have split. Inside a long
# word, BPE and WordPiece tokens ending this far before the cut are the whole text's too
# (several times the longest token of a vocabulary, and WordPiece's 100-character words);
# Unigram's best split of a word depends on all of it, so it is read whole (up to the limit).
CUT_MARGIN = 256
# The most of a text read in search of the tokens needed: 64 characters per token, at least
# 64 Ki characters. Past it a text counts as ending there (see TokenReader.read).
MAX_CHARS_PER_TOKEN = 64
MIN_READ_CHARS = 65536
# Characters given to the tokenizer in one call (it tokenizes them in parallel and keeps every
# result until the call returns): bounds the memory of reading many long documents.
READ_BATCH_CHARS = 1 << 18
# Error messages count a refused text's tokens up to this many times the model's limit.
COUNT_FACTOR = 16
COUNT_CAP = 32768
# The most tokens of one document read for chunking when no --max_request_tokens bounds it.
CHUNK_READ_CAP = 1 << 20


def read_limit(need: int) -> int:
    """The most characters of a text read to find ``need`` tokens."""
    return max(need * MAX_CHARS_PER_TOKEN, MIN_READ_CHARS)


@dataclass(frozen=True)
class TextTokens:
    """The leading tokens of a text, each one a token of the whole text's tokenization."""

    ids: list[int]  # no special tokens
    complete: bool  # all of the text's tokens; else at least the number asked for, unless capped
    chars_read: int

    @property
    def length(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class EncodedPair:
    # numpy arrays, not lists: a queued token costs 5 bytes instead of about 48.
    input_ids: np.ndarray  # int32
    token_type_ids: np.ndarray | None  # int8; None where the model has no segment embeddings


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


class TokenReader:
    """The model's tokenizer, used so that no more of a text is tokenized than can be used.

    Fast tokenizers (``tokenizers``, nearly every model) work on a private copy of the backend,
    whose truncation and padding settings no other caller can change under us; others (pure
    Python tokenizers) go through the transformers API with prefixes cut at white space.
    """

    def __init__(self, tokenizer: Any, segments: bool = True):
        self.tokenizer = tokenizer
        # segments=False: the model has no segment embeddings (ModernBERT), whatever its tokenizer says.
        self.type_ids = segments and "token_type_ids" in tokenizer.model_input_names
        self.special_pair = tokenizer.num_special_tokens_to_add(pair=True)
        self.special_single = tokenizer.num_special_tokens_to_add(pair=False)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._backend = None
        if backend is not None:
            from tokenizers import Tokenizer

            serialized = backend.to_str()
            self._backend = Tokenizer.from_str(serialized)
            self._backend.no_truncation()
            self._backend.no_padding()
            self._pair_template = _Template.of(self._backend, pair=True)
            self._single_template = _Template.of(self._backend, pair=False)
            # Unigram splits a word as a whole; the others from its start.
            self._split_in_words = json.loads(serialized).get("model", {}).get("type") != "Unigram"
            # An added token ("[SEP]", "<|endoftext|>") cut in two reads as other tokens.
            added = [t.content for t in self._backend.get_added_tokens_decoder().values()]
            self._added_margin = max(map(len, added), default=0)

    def read(self, texts: Sequence[str], needs: Sequence[int]) -> list[TextTokens]:
        """The first ``needs[i]`` tokens of each text (all of them if it has no more).

        Each text is cut to a prefix of ``need x CHARS_PER_TOKEN + CUT_MARGIN`` characters whose
        tokens up to the last word are kept (see CUT_MARGIN); a prefix that holds too few is
        grown (doubled, or to the density seen) while the text goes on, up to
        ``read_limit(need)`` characters: a text with fewer tokens than needed there (megabytes
        of white space, one giant word) is read as if it ended there (capped: not ``complete``
        and shorter than ``need``).
        """
        results: list[TextTokens | None] = [None] * len(texts)
        chars = {i: min(need * CHARS_PER_TOKEN + CUT_MARGIN, read_limit(need)) for i, need in enumerate(needs)}
        while chars:
            for group in _groups(list(chars), chars):
                windows = [texts[i][: chars[i]] for i in group]
                whole = [len(w) == len(texts[i]) for i, w in zip(group, windows)]
                for i, window, complete, tokens in zip(group, windows, whole, self._tokenize(windows, whole)):
                    need = needs[i]
                    ids = tokens[0]
                    exact = len(ids) if complete else self._exact(*tokens[1:], len(window), read_limit(need))
                    if complete or exact >= need or len(window) >= read_limit(need):
                        # Keep no more than asked for: a longer text reads as "at least need".
                        results[i] = TextTokens(ids[: min(exact, need)], complete and exact <= need, len(window))
                        del chars[i]
                        continue
                    usable = max(1, len(window) - CUT_MARGIN)
                    guess = usable * need // exact * 5 // 4 + CUT_MARGIN if exact else 0
                    chars[i] = min(read_limit(need), max(2 * len(window), guess))
        return results  # type: ignore[return-value]

    def pair(self, query: list[int], document: list[int]) -> EncodedPair:
        """``[CLS] query [SEP] document [SEP]``: the model's own format for a pair."""
        if self._backend is not None:
            ids, type_ids = self._pair_template.apply(query, document)
        else:
            prepared = self.tokenizer.prepare_for_model(
                query, document, add_special_tokens=True, return_token_type_ids=self.type_ids
            )
            ids, type_ids = prepared["input_ids"], prepared.get("token_type_ids")
        return EncodedPair(np.asarray(ids, np.int32), np.asarray(type_ids, np.int8) if self.type_ids else None)

    def single(self, ids: list[int]) -> list[int]:
        """One text in the model's own format (``[CLS] text [SEP]``)."""
        if self._backend is not None:
            return self._single_template.apply(ids)[0]
        return self.tokenizer.prepare_for_model(ids, add_special_tokens=True)["input_ids"]

    def _tokenize(self, windows: list[str], whole: list[bool]) -> list[tuple[list[int], list[int], list[Any]]]:
        """Each window's ids, where each token ends (in characters) and its word (None: no
        word ids); ``whole``: the window is its whole text."""
        if self._backend is not None:
            encodings = self._backend.encode_batch(windows, add_special_tokens=False)
            return [(e.ids, [end for _, end in e.offsets], e.word_ids) for e in encodings]
        # Without offsets: cut each window where white space starts (words are whole there) and
        # place every token at that cut.
        cuts = [len(w) if complete else _whitespace_cut(w) for w, complete in zip(windows, whole)]
        ids = self.tokenizer([w[:c] for w, c in zip(windows, cuts)], add_special_tokens=False)["input_ids"]
        return [(i, [c] * len(i), []) for i, c in zip(ids, cuts)]

    def _exact(self, ends: list[int], words: list[int | None], cut: int, limit: int) -> int:
        """How many leading tokens of a prefix ``cut`` characters long are the whole text's."""
        if self._backend is None:
            return len(ends) if ends and ends[-1] < cut else 0  # cut back to white space
        # The tokens of the words before the last one...
        last_word = next((word for word in reversed(words) if word is not None), None)
        last = len(words)
        while last > 0 and words[last - 1] in (None, last_word):
            last -= 1
        exact = min(last, bisect.bisect_right(ends, cut - self._added_margin))
        if self._split_in_words or cut >= limit:
            # ...and, in a long last word, those far from the cut (Unigram: only at the limit).
            exact = max(exact, bisect.bisect_right(ends, cut - CUT_MARGIN))
        return exact


def _groups(order: list[int], chars: dict[int, int]) -> list[list[int]]:
    """``order`` cut into runs of at most READ_BATCH_CHARS characters (at least one text each)."""
    groups: list[list[int]] = []
    total = READ_BATCH_CHARS
    for i in order:
        if total + chars[i] > READ_BATCH_CHARS:
            groups.append([])
            total = 0
        groups[-1].append(i)
        total += chars[i]
    return groups


@dataclass(frozen=True)
class _Template:
    """Where a tokenizer's post-processor puts its special tokens around one text or a pair.

    Read once from the post-processor's output for sample encodings (its special tokens mask
    tells them from the texts'); applying it to id lists gives what ``post_process`` gives for
    those ids, without building an encoding per pair. Checked on a second sample of other
    lengths: a post-processor whose layout depended on the texts is refused here.
    """

    parts: tuple[tuple[int | None, tuple[int, ...], tuple[int, ...]], ...]  # (text or None, ids, type ids)

    @classmethod
    def of(cls, backend: Any, pair: bool) -> _Template:
        template = None
        for sample in (("a b c", "d e"), ("a", "b c d e f")):
            encodings = [backend.encode(text, add_special_tokens=False) for text in sample[: 1 + pair]]
            texts = [e.ids for e in encodings]
            processed = backend.post_process(*encodings, add_special_tokens=True) if pair else \
                backend.post_process(encodings[0], None, add_special_tokens=True)
            parts: list[tuple[int | None, list[int], list[int]]] = []
            seen = 0  # text tokens so far: the first len(texts[0]) are the first text's
            marks = zip(processed.ids, processed.type_ids, processed.special_tokens_mask)
            for token_id, type_id, special in marks:
                which = None if special else int(seen >= len(texts[0]))
                seen += not special
                if parts and parts[-1][0] == which:
                    if which is None:
                        parts[-1][1].append(token_id)
                        parts[-1][2].append(type_id)
                    continue
                parts.append((which, [token_id], [type_id]))
            found = cls(tuple(
                (which, tuple(ids), tuple(types)) if which is None else (which, (), tuple(types[:1]))
                for which, ids, types in parts
            ))
            if found.apply(*texts) != (processed.ids, processed.type_ids):
                raise ValueError("the tokenizer's post-processor places special tokens by content; not supported")
            if template is not None and found != template:
                raise ValueError("the tokenizer's post-processor places special tokens by length; not supported")
            template = found
        return template  # type: ignore[return-value]

    def apply(self, first: list[int], second: list[int] | None = None) -> tuple[list[int], list[int]]:
        ids: list[int] = []
        type_ids: list[int] = []
        for sequence, special, types in self.parts:
            if sequence is None:
                ids.extend(special)
                type_ids.extend(types)
            else:
                text = first if sequence == 0 else second
                ids.extend(text)
                type_ids.extend(types * len(text))
        return ids, type_ids


def _whitespace_cut(window: str) -> int:
    """Where the last run of white space in ``window`` starts (its length when none)."""
    end = len(window)
    while end > 0 and not window[end - 1].isspace():
        end -= 1
    while end > 0 and window[end - 1].isspace():
        end -= 1
    return end if end > 0 else len(window)


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


def encode_pairs(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
    max_request_tokens: int | None = None,
) -> list[EncodedPair]:
    """Tokenize cross-encoder pairs as ``[CLS] query [SEP] document [SEP]`` (model's own format).

    The same ids as ``tokenizer(queries, documents, truncation="only_second", max_length=max_len)``
    after each document is cut to ``max_tokens_per_doc`` tokens, without tokenizing more of a
    document than fits. Under the chunk policy a pair may give several (``encode_pair_inputs``).
    """
    return encode_pair_inputs(reader, pairs, max_len, policy, max_tokens_per_doc, max_request_tokens).encoded


def encode_pair_inputs(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
    max_request_tokens: int | None = None,
) -> ScoringInputs:
    """``encode_pairs`` with the chunk policy: a document too long is split into windows."""
    special = reader.special_pair
    query_room = max_len - special  # a query must leave at least one token for the document
    unique_queries = list(dict.fromkeys(q for q, _ in pairs))
    queries = dict(zip(unique_queries, reader.read(unique_queries, [query_room] * len(unique_queries))))
    for query, tokens in queries.items():
        if not tokens.complete or tokens.length >= query_room:
            raise InputTooLongError(
                f"query is {_size(reader, query, tokens, query_room, max_len)}: with {special} special "
                f"tokens it leaves no room for a document within the model's limit of {max_len} tokens",
                pair_index=_first_pair(pairs, query),
            )
    rooms = [query_room - queries[q].length for q, _ in pairs]
    budgets = [_document_budget(room, max_tokens_per_doc) for room in rooms]
    documents = reader.read([d for _, d in pairs], [need for need, _ in budgets])
    lengths = []
    overflows = []
    for index, ((query, document), tokens, room, (need, keep)) in enumerate(zip(pairs, documents, rooms, budgets)):
        overflow = min(tokens.length, keep) > room or _capped(tokens, need)
        if policy is TruncationPolicy.REJECT and overflow:
            extra = queries[query].length + special
            size = _document_size(reader, document, tokens, need, max_len, max_tokens_per_doc, extra)
            raise InputTooLongError(
                f"document {index} is too long: {size} with the query, the model's limit is {max_len}",
                pair_index=index,
            )
        lengths.append(min(tokens.length, keep, room))
        overflows.append(overflow and policy is TruncationPolicy.CHUNK)
    firsts = [reader.pair(queries[q].ids, tokens.ids[:n]) for (q, _), tokens, n in zip(pairs, documents, lengths)]
    if not any(overflows):
        _check_total(sum(len(e.input_ids) for e in firsts), len(pairs), max_request_tokens)
        return ScoringInputs(firsts, list(range(len(pairs))))
    return _chunked(
        reader, pairs, firsts, overflows, rooms,
        lambda index, window: reader.pair(queries[pairs[index][0]].ids, window),
        max_tokens_per_doc, max_request_tokens,
    )


@dataclass(frozen=True)
class Prompt:
    """An LLM reranker's prompt template, its fixed parts tokenized once (``families.py``)."""

    template: PromptTemplate
    prefix_ids: list[int]
    suffix_ids: list[int]

    @classmethod
    def of(cls, tokenizer: Any, template: PromptTemplate) -> Prompt:
        def ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        return cls(template, ids(template.prefix), ids(template.suffix))

    @property
    def fixed(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def wrap(self, body: Sequence[int]) -> EncodedPair:
        return EncodedPair(np.asarray([*self.prefix_ids, *body, *self.suffix_ids], np.int32), None)


def encode_prompted_pairs(
    reader: TokenReader,
    prompt: Prompt,
    instruction: str | None,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
    max_request_tokens: int | None = None,
) -> ScoringInputs:
    """Each pair in an LLM reranker's template, tokenized as its model card does: prefix, the
    body (instruction, query, document) as one text cut at its end to fit, suffix.

    ``max_tokens_per_doc`` counts the body's tokens after the query's part (the document's, give
    or take the one token where the two meet).
    """
    room = max_len - prompt.fixed  # the body's tokens
    unique_queries = list(dict.fromkeys(q for q, _ in pairs))
    heads = {q: prompt.template.body_head(q, instruction) for q in unique_queries}
    head_tokens = dict(zip(unique_queries, reader.read(list(heads.values()), [room] * len(heads))))
    for query, tokens in head_tokens.items():
        if not tokens.complete or tokens.length >= room:
            size = _size(reader, heads[query], tokens, room, max_len, prompt.fixed)
            raise InputTooLongError(
                f"query is {size} with the instruction and the prompt template: it leaves no room for "
                f"a document within the model's limit of {max_len} tokens",
                pair_index=_first_pair(pairs, query),
            )
    bodies = [heads[q] + d for q, d in pairs]
    budgets = []
    for query, _ in pairs:
        head = head_tokens[query].length
        keep = head + max_tokens_per_doc if max_tokens_per_doc is not None else room + 1
        budgets.append((min(keep, room + 1), keep))
    read = reader.read(bodies, [need for need, _ in budgets])
    lengths = []
    overflows = []
    for index, (body, tokens, (need, keep)) in enumerate(zip(bodies, read, budgets)):
        overflow = min(tokens.length, keep) > room or _capped(tokens, need)
        if policy is TruncationPolicy.REJECT and overflow:
            size = _size(reader, body, tokens, need, max_len, prompt.fixed)
            raise InputTooLongError(
                f"document {index} is too long: {size} with the query and the prompt template, the "
                f"model's limit is {max_len}",
                pair_index=index,
            )
        lengths.append(min(tokens.length, keep, room))
        overflows.append(overflow and policy is TruncationPolicy.CHUNK)
    firsts = [prompt.wrap(tokens.ids[:n]) for tokens, n in zip(read, lengths)]
    if not any(overflows):
        _check_total(sum(len(e.input_ids) for e in firsts), len(pairs), max_request_tokens)
        return ScoringInputs(firsts, list(range(len(pairs))))
    heads_ids = [head_tokens[q].ids for q, _ in pairs]
    return _chunked(
        reader, pairs, firsts, overflows, [room - len(ids) for ids in heads_ids],
        lambda index, window: prompt.wrap([*heads_ids[index], *window]),
        max_tokens_per_doc, max_request_tokens,
    )


def _chunked(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    firsts: list[EncodedPair],
    overflows: list[bool],
    rooms: list[int],
    build: Callable[[int, list[int]], EncodedPair],
    max_tokens_per_doc: int | None,
    max_request_tokens: int | None,
) -> ScoringInputs:
    """The pairs whose document overflows, split into windows of ``rooms[i]`` document tokens
    (``build`` puts a window beside its query); the others as they are.

    Each long document is read only as far as the request's token budget still reaches, one
    after another, so a request over --max_request_tokens costs about that many tokens of
    reading before its 413.
    """
    limit = max_request_tokens if max_request_tokens is not None else CHUNK_READ_CAP
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
        if max_tokens_per_doc is not None:
            need = min(need, max_tokens_per_doc)
        document = reader.read([pairs[index][1]], [need])[0].ids[:need]
        for start in range(0, len(document), room):
            window = build(index, document[start : start + room])
            total += len(window.input_ids)
            encoded.append(window)
            owners.append(index)
        _check_total(total, len(pairs), limit)
    return ScoringInputs(encoded, owners)


def encode_embedding_pairs(
    reader: TokenReader,
    pairs: Sequence[tuple[str, str]],
    max_len: int,
    policy: TruncationPolicy,
    max_tokens_per_doc: int | None = None,
    max_request_tokens: int | None = None,
) -> EmbeddingInputs:
    """Tokenize the distinct inputs of the pairs (a rerank request embeds its query once).

    Each text as ``tokenizer(text, truncation=True, max_length=max_len)`` would give it, a
    document first cut to ``max_tokens_per_doc`` tokens; a query over the limit is refused
    whatever the policy (only documents are cut).
    """
    special = reader.special_single
    room = max_len - special
    unique_queries = list(dict.fromkeys(q for q, _ in pairs))
    query_tokens = reader.read(unique_queries, [room + 1] * len(unique_queries))
    for query, tokens in zip(unique_queries, query_tokens):
        if not tokens.complete or tokens.length > room:
            raise InputTooLongError(
                f"query is too long: {_size(reader, query, tokens, room + 1, max_len, special)}, "
                f"the model's limit is {max_len}",
                pair_index=_first_pair(pairs, query),
            )
    need, keep = _document_budget(room, max_tokens_per_doc)
    documents = reader.read([d for _, d in pairs], [need] * len(pairs))
    lengths = []
    for index, ((_, document), tokens) in enumerate(zip(pairs, documents)):
        if policy is TruncationPolicy.REJECT and (min(tokens.length, keep) > room or _capped(tokens, need)):
            size = _document_size(reader, document, tokens, need, max_len, max_tokens_per_doc, special)
            raise InputTooLongError(
                f"document {index} is too long: {size}, the model's limit is {max_len}", pair_index=index
            )
        lengths.append(min(tokens.length, keep, room))

    rows: dict[tuple[int, ...], int] = {}  # each distinct input once
    query_rows = {
        query: rows.setdefault(tuple(reader.single(tokens.ids)), len(rows))
        for query, tokens in zip(unique_queries, query_tokens)
    }
    document_rows = [
        rows.setdefault(tuple(reader.single(tokens.ids[:n])), len(rows)) for tokens, n in zip(documents, lengths)
    ]
    inputs = EmbeddingInputs(
        [np.asarray(ids, np.int32) for ids in rows], [query_rows[q] for q, _ in pairs], document_rows
    )
    _check_total(inputs.total_tokens, len(pairs), max_request_tokens)
    return inputs


def cosine_scores(inputs: EmbeddingInputs, vectors: Sequence[Any]) -> list[float]:
    """Cosine similarity of each pair's embeddings (``vectors`` align with ``inputs.token_ids``:
    torch tensors or arrays, on the CPU).

    In numpy, element-wise, in float64: this runs on the event loop, and a torch operation there
    starts a second OpenMP thread team beside the model thread's; with more OpenMP threads than
    cores, GNU OpenMP stops spin-waiting at its barriers, and the model's every layer then waits
    for threads to wake (measured on 2 cores: embedding requests 20% slower, the model using 160%
    of the 200% it had). Element-wise numpy uses no BLAS, so no threads of its own.
    """
    if not inputs.query_index:
        return []
    rows = np.stack([_as_array(vector) for vector in vectors])
    queries, documents = rows[inputs.query_index], rows[inputs.document_index]
    dots = (queries * documents).sum(axis=1)
    norms = np.sqrt((queries * queries).sum(axis=1) * (documents * documents).sum(axis=1))
    cosines = dots / np.maximum(norms, 1e-8)  # a zero vector: cosine 0, as torch's
    return np.clip(cosines, -1.0, 1.0).tolist()  # rounding can step past +-1


def _as_array(vector: Any) -> np.ndarray:
    if hasattr(vector, "detach"):  # a torch tensor (bfloat16 has no numpy type: float first)
        vector = vector.detach().float().cpu().numpy()
    return np.asarray(vector, dtype=np.float64)


def relevance_scores(logits: Sequence[float], owners: Sequence[int], pairs: int, activation: bool) -> list[float]:
    """One score per pair from the model's raw logits: where a pair was cut into windows
    (``owners[i]``: the pair of logit i), its best window's; then the sigmoid, unless
    ``activation`` is off. In numpy, on the event loop (see ``cosine_scores``: no torch there)."""
    values = np.asarray(logits, dtype=np.float64)
    if len(values) != pairs:  # chunked
        best = np.full(pairs, -np.inf)
        np.maximum.at(best, np.asarray(owners, dtype=np.intp), values)
        values = best
    if activation:
        with np.errstate(over="ignore"):  # e^1000 is inf, and 1 / (1 + inf) is the right 0
            values = 1.0 / (1.0 + np.exp(-values))
    return values.tolist()
