"""The most memory the torch engine's server takes on CPU, from its model's shape and its
settings: the formula of docs/api.md ("Peak memory on CPU"), its constants and where they were
measured. Nothing here imports torch: the tests, the benchmark and a capacity plan compute it
from a model's config.json and the flags.

    peak RSS <= runtime + weights + 2 x tokenizer
                + workers x (batch fixed + (activation + mask) bytes per token x batch tokens)
                + bodies held x BODY_FACTOR + tokens read x READ_TOKEN_BYTES
                + tokens queued x QUEUED_TOKEN_BYTES

- weights: parameters x bytes per parameter (float32 4, bfloat16 2), counted whole even where
  an untouched part of the embedding matrix is not resident;
- activation bytes per batch token: c x (hidden + intermediate) x 4 (activations are counted in
  float32 whatever the weights' dtype), c by kind of model (``ACTIVATION_FACTOR``); a layer's
  activations are freed before the next layer's, so the number of layers does not enter;
- batch tokens: ``--max_batch_tokens``, or the model's limit where one pair is longer (a batch
  of its own); an LLM reranker reusing its prompt prefix lays the prefix out once in each
  batch while each pair is charged a share of it, so a batch can hold up to a prefix (less than
  the model's limit) more than the budget;
- square masks: models that run padded and build float32 [length, length] attention masks per
  sequence (ModernBERT: global and sliding-window) add masks x 4 bytes x batch tokens x the
  model's limit (a batch of b sequences of length l <= limit holds b x l x l);
- bodies held: the requests in progress hold their bodies as bytes and as Python strings (up to
  4 bytes a character) until answered, and the server lets in no more than
  ``--max_concurrent_body_bytes`` of them (or one body of ``--max_body_bytes``, alone);
- tokens read: one request is tokenized at a time, and it reads each document's tokens (up to
  the room beside the query, one more to see it overflows; chunking reads on up to
  ``--max_request_tokens``) as Python lists;
- tokens queued: the int32 ids (and int8 segments) admitted requests keep until scored, each at
  most ``--max_request_tokens``, all together at most ``--max_queued_pairs`` pairs of the model's
  limit (windows of a chunked document are not pairs: there only the first bound holds).

The constants are rounded up from measurements on a 2-core AMD EPYC VM (AVX2, float32, torch
2.13, transformers 5.24), each process's VmHWM (tests/serving/process/test_peak_memory.py measures the
real server against this bound).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB = 1 << 20
GIB = 1 << 30

# Python, torch, transformers, sentence-transformers, tokenizers, FastAPI and uvicorn, oneDNN's
# and OpenMP's threads, and both copies of a small tokenizer: the idle server with the embedded
# MiniLM held 607-614 MiB, less its 87 MiB of weights: 525 MiB.
RUNTIME_BYTES = 600 * MIB
# What a model batch holds besides its tokens' activations (scratch buffers, positions, the
# packing's index tensors): a batch's measured peak at 0 tokens, extrapolated, was 26-62 MiB.
BATCH_FIXED_BYTES = 64 * MIB
# c in c x (hidden + intermediate) x 4 bytes per batch token. Encoders (BERT, XLM-RoBERTa,
# MiniLM): measured 2.6 to 3.1 (bge-reranker-base, packed pairs of 20 to 512 tokens; MiniLM,
# padded texts of 256). Decoders (Qwen3-Reranker): measured 6.2 to 7.6 (0.6B's width: 16 query
# heads of 128, twice the hidden size; the keys and values of its 8 KV heads repeated to 16;
# norms in float32; the prefix and own halves of packed attention merged). Rounded up by about a
# fifth.
ACTIVATION_FACTOR = {"encoder": 4, "decoder": 9}
ACTIVATION_DTYPE_BYTES = 4
# A request's body held as bytes and parsed into Python strings: measured 3.9 x the body for
# ASCII text and 8.5 x for documents each holding one character outside Latin-1 (4 bytes a
# character as a Python string), with the tokens below.
BODY_FACTOR = 10
# A token read while tokenizing: a Python int in a list (28 + 8 bytes), and the tokenizer's
# encodings of one read batch; measured 34 bytes a token (1000 prompts of 4097 tokens).
READ_TOKEN_BYTES = 40
# A queued token: an int32 id and an int8 segment id.
QUEUED_TOKEN_BYTES = 5
# Decoders whose packed batches lay a shared prompt prefix out once (reranker.engine.packing).
DECODER_MODEL_TYPES = frozenset({"qwen3", "qwen2", "llama"})
# Square float32 masks per sequence of a padded batch, by model type, where they outgrow the
# activations: ModernBERT (global and sliding-window attention) measured 3 (one 8192-token pair of
# gte-reranker-modernbert-base's shape: +1048 MiB, of which the activations about 300). BERT's and
# XLM-R's masks are booleans of the padded length, within c (packed batches build none).
SQUARE_MASKS = {"modernbert": 3}


@dataclass(frozen=True)
class ModelShape:
    """What the bound needs of a model."""

    parameters: int
    hidden_size: int
    intermediate_size: int
    max_model_len: int  # tokens per pair (or per text): the server's limit
    decoder: bool = False  # a causal decoder (LLM reranker), not an encoder
    weight_bytes: int = 4  # per parameter: float32 4, bfloat16 and float16 2
    tokenizer_bytes: int = 0  # one copy of a tokenizer larger than the runtime's small one
    square_masks: int = 0  # float32 [length, length] matrices a padded batch builds per sequence

    @classmethod
    def from_config(
        cls,
        config: dict[str, Any],
        parameters: int,
        max_model_len: int,
        weight_bytes: int = 4,
        tokenizer_bytes: int = 0,
    ) -> ModelShape:
        """From a transformers config.json (an intermediate size of 4 x hidden where it has none)."""
        hidden = int(config["hidden_size"])
        architectures = config.get("architectures") or []
        decoder = config.get("model_type") in DECODER_MODEL_TYPES or any("CausalLM" in a for a in architectures)
        return cls(
            parameters,
            hidden,
            int(config.get("intermediate_size") or 4 * hidden),
            max_model_len,
            decoder,
            weight_bytes,
            tokenizer_bytes,
            SQUARE_MASKS.get(str(config.get("model_type")), 0),
        )

    @property
    def activation_bytes_per_token(self) -> int:
        factor = ACTIVATION_FACTOR["decoder" if self.decoder else "encoder"]
        return factor * (self.hidden_size + self.intermediate_size) * ACTIVATION_DTYPE_BYTES

    @property
    def mask_bytes_per_token(self) -> int:
        """A padded batch's square attention masks, per batch token (at most the model's limit
        of them per token)."""
        return self.square_masks * 4 * self.max_model_len


@dataclass(frozen=True)
class ServerLimits:
    """The settings the bound depends on (the CPU defaults unless given)."""

    max_batch_tokens: int = 8192  # packed on CPU; 2048 where batches are padded (embedding models)
    model_workers: int = 2
    max_documents: int = 1000
    max_body_bytes: int = 16 * MIB
    max_request_tokens: int = 524288
    chunking: bool = False  # --truncation chunk
    prefix_reuse: bool = True
    max_concurrent_body_bytes: int = 48 * MIB
    max_queued_pairs: int = 16384
    max_concurrent_requests: int = 512

    @classmethod
    def of(cls, settings: Any, max_batch_tokens: int, model_workers: int) -> ServerLimits:
        """From a ``Settings`` and the budget and workers the engine resolved (its log says them)."""
        return cls(
            max_batch_tokens,
            model_workers,
            settings.max_documents,
            settings.max_body_bytes,
            settings.max_request_tokens,
            settings.truncation == "chunk",
            settings.prefix_reuse,
            settings.max_concurrent_body_bytes,
            settings.max_queued_pairs,
            settings.max_concurrent_requests,
        )


@dataclass(frozen=True)
class MemoryBound:
    """The bound's terms, in bytes."""

    runtime: int
    weights: int
    tokenizer: int
    batch: int  # one model batch at the budget
    workers: int
    bodies: int  # the request bodies held, parsed
    reading: int  # the one request being tokenized
    queued: int  # the token ids admitted requests keep

    @property
    def total(self) -> int:
        return (
            self.runtime
            + self.weights
            + self.tokenizer
            + self.workers * self.batch
            + self.bodies
            + self.reading
            + self.queued
        )

    def describe(self) -> str:
        def gib(value: int) -> str:
            return f"{value / GIB:.2f}"

        tokenizer = f" + tokenizer {gib(self.tokenizer)}" if self.tokenizer else ""
        return (
            f"{gib(self.total)} GiB = runtime {gib(self.runtime)} + weights {gib(self.weights)}{tokenizer} + "
            f"{self.workers} x batch {gib(self.batch)} + bodies {gib(self.bodies)} + reading "
            f"{gib(self.reading)} + queued {gib(self.queued)}"
        )


def batch_tokens(shape: ModelShape, limits: ServerLimits) -> int:
    """The most tokens one model batch computes (see the module's docstring)."""
    if shape.decoder and limits.prefix_reuse:
        return limits.max_batch_tokens + shape.max_model_len
    return max(limits.max_batch_tokens, shape.max_model_len)


def tokens_read(shape: ModelShape, limits: ServerLimits) -> int:
    """The most tokens one request makes the server read while tokenizing."""
    read = limits.max_documents * (shape.max_model_len + 1)
    return read + (limits.max_request_tokens if limits.chunking else 0)


def tokens_queued(shape: ModelShape, limits: ServerLimits) -> int:
    """The most token ids admitted requests keep at once."""
    per_request = limits.max_concurrent_requests * limits.max_request_tokens
    if limits.chunking:
        return per_request
    return min(per_request, limits.max_queued_pairs * shape.max_model_len)


def memory_bound(shape: ModelShape, limits: ServerLimits) -> MemoryBound:
    """The peak resident memory of a server with the model ``shape`` and the settings ``limits``."""
    per_token = shape.activation_bytes_per_token + shape.mask_bytes_per_token
    return MemoryBound(
        RUNTIME_BYTES,
        shape.parameters * shape.weight_bytes,
        2 * shape.tokenizer_bytes,  # the tokenizer and the reader's private copy of it
        BATCH_FIXED_BYTES + per_token * batch_tokens(shape, limits),
        limits.model_workers,
        BODY_FACTOR * max(limits.max_concurrent_body_bytes, limits.max_body_bytes),
        READ_TOKEN_BYTES * tokens_read(shape, limits),
        QUEUED_TOKEN_BYTES * tokens_queued(shape, limits),
    )
