"""The engine interface: what the HTTP layer needs from a model backend.

The API speaks in (query, document) pairs; an engine turns pairs into one relevance score each
and counts the tokenizer tokens it used. Batching is the engine's business: the torch engine
packs pairs from concurrent requests itself, the vLLM engine leaves it to vLLM's scheduler.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Called with (pairs or texts in a model batch, padded tokens of that batch), for metrics.
BatchObserver = Callable[[int, int], None]


class ModelKind(str, enum.Enum):
    """How a model turns a pair into a score (``families.py`` tells the model families apart)."""

    # Reads the pair together and gives one logit (sigmoid by default): a sequence classifier,
    # or an LLM reranker's yes/no logit difference.
    CROSS_ENCODER = "cross-encoder"
    EMBEDDING = "embedding"  # bi-encoder: cosine similarity of the two embeddings


class TruncationPolicy(str, enum.Enum):
    TRUNCATE = "truncate"  # cut the document to fit the model's limit
    REJECT = "reject"  # refuse pairs longer than the limit (InputTooLongError)
    # Cross-encoders: score each window of a long document that fits, the document's score is
    # the best window's (embedding models truncate instead).
    CHUNK = "chunk"


@dataclass(frozen=True)
class ScoreOptions:
    """Per-request knobs, already validated by the API layer."""

    use_activation: bool = True  # sigmoid on cross-encoder logits; ignored for embedding models
    max_tokens_per_doc: int | None = None  # cut each document to this many tokens first
    truncation: TruncationPolicy | None = None  # this request's policy; None: the server's
    instruction: str | None = None  # LLM rerankers' task instruction; None: the server's default
    max_chunks_per_doc: int | None = None  # chunk long documents into at most this many windows
    max_prompt_tokens: int | None = None  # this request's tokens per pair (vLLM's truncate_prompt_tokens)


@dataclass(frozen=True)
class ScoreResult:
    scores: list[float]  # one per pair, in the order given
    total_tokens: int  # real tokenizer tokens processed for these pairs


class EngineError(Exception):
    """A failure inside the engine; the API answers 500."""


class InputTooLongError(ValueError):
    """A pair exceeds the model's limit and the truncation policy is REJECT; the API answers 400."""

    def __init__(self, message: str, *, pair_index: int):
        super().__init__(message)
        self.pair_index = pair_index


class RequestTooLargeError(ValueError):
    """The request would make the model process more than --max_request_tokens tokens; the API
    answers 413 with this message."""

    def __init__(self, tokens: int, limit: int, pairs: int):
        super().__init__(
            f"request too large: it would make the model process {tokens} tokens ({pairs} pairs after "
            f"truncation), more than the limit of {limit} per request (--max_request_tokens); send "
            "fewer or shorter documents, or set max_tokens_per_doc"
        )
        self.tokens = tokens
        self.limit = limit


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the served model name (--model_name), what clients send as "model"
    source: str  # where it was loaded from (a directory or a hub id)
    kind: ModelKind
    max_model_len: int  # tokens per pair (cross-encoder) or per text (embedding)
    backend: str  # "torch" or "vllm"
    family: str = "cross-encoder"  # the --model_family it is served as
    takes_instruction: bool = False  # whether a request may carry an "instruction"
    # The most characters of a pair the model reads within max_model_len (admission's unit of
    # work); None: the engine cannot say, and admission counts whole texts.
    max_pair_chars: int | None = None


class Engine(abc.ABC):
    """A loaded model that scores (query, document) pairs.

    Life cycle: construct (cheap, no weights), ``await start()`` (loads weights; may take
    minutes), ``await score(...)`` any number of times concurrently, ``await stop()``.
    """

    @property
    @abc.abstractmethod
    def info(self) -> ModelInfo: ...

    @abc.abstractmethod
    async def start(self) -> None:
        """Load the model. Raises on failure; afterwards the engine is ready."""

    @abc.abstractmethod
    async def score(self, pairs: Sequence[tuple[str, str]], options: ScoreOptions) -> ScoreResult:
        """Score each pair. Safe to call from many coroutines at once; never blocks the loop."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of ``text`` (no special tokens)."""

    @property
    def dtype(self) -> str | None:
        """The precision the weights run in ("float32", "bfloat16", ...), once started (None: unknown)."""
        return None

    @property
    def batch_tokens(self) -> int | None:
        """The most tokens one model batch or scheduler step takes, once started (None: unknown)."""
        return None

    def set_batch_observer(self, observer: BatchObserver) -> None:  # noqa: B027 (optional hook: no-op by default)
        """Report each model batch to ``observer``. Engines that batch elsewhere (vLLM) ignore it."""

    async def stop(self) -> None:  # noqa: B027 (optional hook: no-op by default)
        """Release the model. Default: nothing to do."""
