"""What both engines share: tokenizing pairs the same way and turning model outputs into scores.

An engine supplies the model side only: ``_classify`` (one raw logit per encoded pair: a
classifier's, or an LLM reranker's yes/no difference) and ``_embed`` (one vector per text).
Prompt templates, truncation, rejection, chunking, token counts, the sigmoid and the cosine are
done here once, so the torch and vLLM engines cannot drift apart.

Memory: a large request's tokenizing and batches leave freed memory in glibc's heaps, which it
keeps (RSS stays at the high-water mark). Once the engine has been idle for ``TRIM_DELAY``
seconds after work, ``malloc_trim`` hands it back to the system, in a worker thread.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..config import Settings
from ..observability import tracing
from .base import Engine, ModelInfo, ModelKind, ScoreOptions, ScoreResult, TruncationPolicy
from .inputs import (
    EncodedPair,
    InputLimits,
    Prompt,
    ScoringInputs,
    TokenReader,
    chars_holding,
    encode_embedding_pairs,
    encode_pair_inputs,
    encode_prompted_pairs,
)
from .model_source import ResolvedModel
from .scoring import cosine_scores, relevance_scores

log = logging.getLogger(__name__)

# Seconds of idleness after work before freed memory goes back to the system.
TRIM_DELAY = 1.0
# Requests with fewer characters than this are tokenized on the event loop (well under a
# millisecond of work), larger ones in a worker thread: a thread hand-off costs a small request
# more than its tokenizing does.
INLINE_TOKENIZE_CHARS = 8192


def _malloc_trim() -> Callable[[], Any] | None:
    """glibc's ``malloc_trim(0)``, or None where there is no glibc (musl, macOS)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim  # CDLL: the call releases the GIL
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


_TRIM = _malloc_trim()


def release_memory() -> float:
    """Return the heaps' free memory to the system (glibc only); the seconds it took."""
    started = time.perf_counter()
    if _TRIM is not None:
        _TRIM()
    return time.perf_counter() - started


class PairScoringEngine(Engine):
    def __init__(self, settings: Settings, model: ResolvedModel, backend: str):
        self._settings = settings
        self._model_source = model
        self._policy = TruncationPolicy(settings.truncation)
        self._family = model.family
        self._info = ModelInfo(
            settings.served_model_name,
            model.path,
            model.kind,
            model.max_model_len,
            backend,
            model.family.name,
            model.family.takes_instruction,
            chars_holding(model.max_model_len),
        )
        self._tokenizer: Any = None  # set by start(): the model's own tokenizer
        self._reader: TokenReader | None = None  # built from it on first use
        self._prompt: Prompt | None = None  # an LLM reranker's template, tokenized with the reader
        # Segment ids only where the model has segment embeddings to look up (BERT's two), not
        # where its tokenizer merely makes them (ModernBERT).
        self._segments = (model.config.get("type_vocab_size") or 0) > 1
        self._max_request_tokens = settings.max_request_tokens
        self._in_flight = 0
        self._reading = asyncio.Lock()  # held while a request is tokenized in a thread
        self._trim_timer: asyncio.TimerHandle | None = None

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    @abc.abstractmethod
    def _started(self) -> bool: ...

    @abc.abstractmethod
    async def _classify(self, encoded: list[EncodedPair]) -> list[float]:
        """One raw logit per pair (no activation)."""

    @abc.abstractmethod
    async def _embed(self, token_ids: list[np.ndarray]) -> Sequence[Any]:
        """One embedding per tokenized text (an array or a CPU tensor)."""

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def _build_reader(self) -> TokenReader:
        if self._family.template is not None:
            self._prompt = Prompt.of(self._tokenizer, self._family.template)
        self._reader = TokenReader(self._tokenizer, self._segments)  # copies the tokenizer: some milliseconds
        return self._reader

    async def score(self, pairs: Sequence[tuple[str, str]], options: ScoreOptions) -> ScoreResult:
        if not self._started:
            raise RuntimeError("engine is not started")
        self._in_flight += 1
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        try:
            return await self._score(pairs, options)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._trim_timer = asyncio.get_running_loop().call_later(TRIM_DELAY, self._trim_when_idle)

    def _trim_when_idle(self) -> None:
        self._trim_timer = None
        if self._in_flight == 0:
            with contextlib.suppress(RuntimeError):  # the loop's executor is gone: shutting down
                asyncio.get_running_loop().run_in_executor(None, self._release_memory)

    @staticmethod
    def _release_memory() -> None:
        log.debug("returned free memory to the system in %.3f s", release_memory())

    async def _score(self, pairs: Sequence[tuple[str, str]], options: ScoreOptions) -> ScoreResult:
        limits = InputLimits(
            min(self._info.max_model_len, options.max_prompt_tokens or self._info.max_model_len),
            options.truncation or self._policy,
            options.max_tokens_per_doc,
            self._max_request_tokens,
            options.max_chunks_per_doc,
            "the model's limit" if options.max_prompt_tokens is None else "truncate_prompt_tokens",
        )
        reader = self._reader
        if reader is None or reader.tokenizer is not self._tokenizer:
            reader = await asyncio.to_thread(self._build_reader)
        # Tokenizing a thousand documents takes a while: off the event loop, one request at a
        # time (what it reads is held until it is done: one reader bounds that memory, and two
        # would share the same cores anyway); a few short ones on the loop. An LLM reranker
        # reads its instruction again with every document.
        instruction = len(options.instruction or "") if self._prompt is not None else 0
        chars = sum(len(query) + len(document) + instruction for query, document in pairs)
        run = _call if chars < INLINE_TOKENIZE_CHARS else self._read_in_thread
        if self._model_source.kind is ModelKind.CROSS_ENCODER:
            with tracing.span("tokenize", {"reranker.pairs": len(pairs)}):
                scoring = await run(self._encode, reader, pairs, options, limits)
            logits = await self._classify(scoring.encoded)
            scores = relevance_scores(logits, scoring.owners, len(pairs), options.use_activation)
            return ScoreResult(scores, scoring.total_tokens)
        if limits.policy is TruncationPolicy.CHUNK:  # refused at start for embedding models
            limits = dataclasses.replace(limits, policy=TruncationPolicy.TRUNCATE)
        with tracing.span("tokenize", {"reranker.pairs": len(pairs)}):
            inputs = await run(encode_embedding_pairs, reader, pairs, limits)
        vectors = await self._embed(inputs.token_ids)
        return ScoreResult(cosine_scores(inputs, vectors), inputs.total_tokens)

    async def _read_in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        async with self._reading:
            return await asyncio.to_thread(function, *args)

    def _encode(
        self, reader: TokenReader, pairs: Sequence[tuple[str, str]], options: ScoreOptions, limits: InputLimits
    ) -> ScoringInputs:
        if self._prompt is None:
            return encode_pair_inputs(reader, pairs, limits)
        instruction = options.instruction if options.instruction is not None else self._settings.instruction
        return encode_prompted_pairs(reader, self._prompt, instruction, pairs, limits)


async def _call(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` here, on the event loop (``asyncio.to_thread``'s shape)."""
    return function(*args)
