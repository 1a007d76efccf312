"""What both engines share: tokenizing pairs the same way and turning model outputs into scores.

An engine supplies the model side only: ``_classify`` (one raw logit per encoded pair) and
``_embed`` (one vector per text). Truncation, rejection, token counts, the sigmoid and the
cosine are done here once, so the torch and vLLM engines cannot drift apart.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from typing import Any

import torch

from ..config import Settings
from .base import Engine, ModelInfo, ModelKind, ScoreOptions, ScoreResult, TruncationPolicy
from .inputs import EncodedPair, cosine_scores, encode_embedding_pairs, encode_pairs
from .model_source import ResolvedModel


class PairScoringEngine(Engine):
    def __init__(self, settings: Settings, model: ResolvedModel, backend: str):
        self._settings = settings
        self._model_source = model
        self._policy = TruncationPolicy(settings.truncation)
        self._info = ModelInfo(settings.served_model_name, model.path, model.kind, model.max_model_len, backend)
        self._tokenizer: Any = None  # set by start(): the model's own tokenizer

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
    async def _embed(self, token_ids: list[list[int]]) -> Sequence[torch.Tensor]:
        """One embedding per tokenized text."""

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    async def score(self, pairs: Sequence[tuple[str, str]], options: ScoreOptions) -> ScoreResult:
        if not self._started:
            raise RuntimeError("engine is not started")
        max_len = self._info.max_model_len
        policy = options.truncation or self._policy
        if self._model_source.kind is ModelKind.CROSS_ENCODER:
            # Tokenizing a thousand documents takes a while: off the event loop.
            encoded = await asyncio.to_thread(
                encode_pairs, self._tokenizer, pairs, max_len, policy, options.max_tokens_per_doc
            )
            logits = torch.tensor(await self._classify(encoded), dtype=torch.float64)
            scores = torch.sigmoid(logits) if options.use_activation else logits
            return ScoreResult(scores.tolist(), sum(len(e.input_ids) for e in encoded))
        inputs = await asyncio.to_thread(
            encode_embedding_pairs, self._tokenizer, pairs, max_len, policy, options.max_tokens_per_doc
        )
        vectors = await self._embed(inputs.token_ids)
        return ScoreResult(cosine_scores(pairs, inputs, vectors), inputs.total_tokens)
