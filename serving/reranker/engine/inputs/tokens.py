"""Prefix-bounded tokenization: no text is tokenized whole.

A model reads at most ``max_model_len`` tokens of a text, so only a prefix of its characters is
tokenized, one long enough to hold the tokens that can be used (``TokenReader.read``); a 15 MB
document costs what its first few kilobytes cost. The ids are the ones tokenizing the whole text
would give: tokens near the cut (a word cut in two) are dropped, and the prefix grows while it
holds too few.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


def chars_holding(tokens: int) -> int:
    """Characters that generously hold ``tokens`` tokens of natural text: what a pair's token
    limit lets the model read, in the unit admission counts work in."""
    return tokens * CHARS_PER_TOKEN


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
            processed = (
                backend.post_process(*encodings, add_special_tokens=True)
                if pair
                else backend.post_process(encodings[0], None, add_special_tokens=True)
            )
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
            found = cls(
                tuple(
                    (which, tuple(ids), tuple(types)) if which is None else (which, (), tuple(types[:1]))
                    for which, ids, types in parts
                )
            )
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
                assert text is not None  # a pair's template (one with a second text) is applied to pairs
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
