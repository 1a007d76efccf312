"""The torch engine: transformers / sentence-transformers on CPU, or CUDA when present.

Cross-encoders score each pair with one logit (sigmoid by default); LLM rerankers in causal-LM
form with logit("yes") - logit("no") at the pair's last token (its sigmoid is the model card's
P(yes)); embedding models embed the query and each document and score their cosine similarity.
Each of the three loads and runs its model its own way (``score_heads.py``); the torch threads
and model workers are sized by ``cpu_threads.py``. Tokenizing runs in a worker thread and the
model in the batcher's compute thread, so the event loop only moves results around.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
import torch

from ..config import Settings
from .base import BatchObserver
from .batcher import DynamicBatcher
from .cpu_threads import compute_threads, cpu_quota, model_workers, thread_shares, worker_threads
from .inputs import EncodedPair
from .model_source import ResolvedModel
from .packing import (
    PACKED_ATTENTION,
    Packing,
    attends_prefix_once,
    pack_decoder_pairs,
    pack_encoder_pairs,
    run_packed,
    shared_prefix,
)
from .pair_engine import PairScoringEngine
from .precision import dtype_name, pick_device, pick_dtype
from .prepacked_linear import prepack_transformer
from .score_heads import LoadedHead, load_head

log = logging.getLogger(__name__)


# Default --max_batch_tokens by device. A GPU needs large batches to fill it. On CPU, padded
# batches run best small: at 2048 a batch's activations stay in the caches and the next batch's
# tokenizing overlaps the model; make bench measured 16384 10-25% slower on 2 cores at concurrency
# 16 (at 1 a request fits one batch either way). Packed batches run best larger: with no padding
# to pay for, 8192 ran 10-20% faster than 2048 at concurrency 16 on 2 cores (more pairs of one
# length share an attention call, fewer batches pay their fixed cost); 16384 no faster.
DEFAULT_BATCH_TOKENS = {"cpu": 2048, "cuda": 16384}
DEFAULT_PACKED_CPU_BATCH_TOKENS = 8192


def batch_token_budget(requested: int | None, device: torch.device, packed: bool = False) -> int:
    """The token budget of one model batch: --max_batch_tokens, or the device's default."""
    if requested is not None:
        return requested
    if packed and device.type == "cpu":
        return DEFAULT_PACKED_CPU_BATCH_TOKENS
    return DEFAULT_BATCH_TOKENS.get(device.type, DEFAULT_BATCH_TOKENS["cuda"])


def prefixed_batch_tokens(items: list[tuple[EncodedPair, int]]) -> int:
    """The tokens a packed decoder batch computes: each pair's own tokens, and each distinct
    shared prefix once (``pack_decoder_pairs`` lays it out once per batch)."""
    prefixes = {e.input_ids[:shared].tobytes(): shared for e, shared in items if shared}
    return sum(len(e.input_ids) - shared for e, shared in items) + sum(prefixes.values())


def state_changed_by_forward(model: torch.nn.Module) -> str | None:
    """What in ``model`` its forward pass rewrites, as one phrase, or None.

    Two model workers run forward passes at once on the same modules: a module that updates its
    own buffers in forward would have one batch score with the other's values. transformers'
    rotary embeddings of rope type "dynamic" and "longrope" recompute ``inv_freq`` for each
    batch's length (modeling_rope_utils.dynamic_rope_update).
    """
    for name, module in model.named_modules():
        rope_type = getattr(module, "rope_type", None)
        types = rope_type.values() if isinstance(rope_type, dict) else [rope_type]  # per layer type
        for kind in types:
            if isinstance(kind, str) and ("dynamic" in kind or kind == "longrope"):
                return f"{name or 'the model'}: {kind} RoPE recomputes its frequencies in each forward pass"
    return None


class TorchEngine(PairScoringEngine):
    def __init__(self, settings: Settings, model: ResolvedModel):
        super().__init__(settings, model, "torch")
        self._observer: BatchObserver | None = None
        self._head: LoadedHead | None = None  # the model, loaded for its score head
        self._model: Any = None  # the head's model
        self._device: torch.device | None = None
        self._batcher: DynamicBatcher | None = None
        self._batch_tokens: int | None = None  # resolved once the device is known
        self._dtype: str | None = None  # --dtype resolved (auto: by device and CPU)
        self._packing: Packing | None = None  # set where batches run without padding
        self._prepacked = 0  # linear layers running from oneDNN-reordered weights
        self._threads = 0  # CPU: torch threads in all (the pod's CPU limit)
        self._workers = 1  # model batches run at once

    @property
    def _started(self) -> bool:
        return self._batcher is not None

    @property
    def batch_tokens(self) -> int | None:
        return self._batch_tokens

    @property
    def dtype(self) -> str | None:
        return self._dtype

    def set_batch_observer(self, observer: BatchObserver) -> None:
        self._observer = observer

    async def start(self) -> None:
        await asyncio.to_thread(self._load)
        assert self._batch_tokens is not None  # _load sets it
        self._batcher = DynamicBatcher(
            self._run_batch,
            self._batch_tokens,
            self._observe,
            self._packing is not None,
            self._workers,
            worker_threads(self._threads, self._workers) if self._threads else None,
            computed_tokens=prefixed_batch_tokens if self._packing is not None and self._packing.causal else None,
        )
        self._batcher.start()

    async def stop(self) -> None:
        if self._batcher is not None:
            await self._batcher.stop()

    def _observe(self, items: int, padded_tokens: int) -> None:
        if self._observer is not None:
            self._observer(items, padded_tokens)

    def _load(self) -> None:
        device = pick_device(self._settings.device)
        if device.type == "cpu":
            self._threads = compute_threads(cpu_quota())
            torch.set_num_threads(self._threads)
        self._workers = model_workers(self._settings.model_workers, device, self._threads)
        dtype = pick_dtype(self._settings.dtype, device, self._model_source.config)
        path = self._model_source.path
        self._head = head = load_head(self._model_source, dtype, device, self._settings.trust_remote_code)
        self._tokenizer = head.tokenizer
        self._model = head.model
        self._device = device
        if self._workers > 1 and (shared_state := state_changed_by_forward(self._model)):
            log.warning("one model worker instead of %d: %s", self._workers, shared_state)
            self._workers = 1
        packed = self._settings.packed_batches == "on" or (
            self._settings.packed_batches == "auto" and device.type == "cpu"
        )
        if packed:
            self._packing = head.packing()
        self._dtype = dtype_name(dtype)
        self._batch_tokens = batch_token_budget(self._settings.max_batch_tokens, device, self._packing is not None)
        # Checked up to the batch budget, and before packed attention: the check's forward pass is unpacked.
        if device.type == "cpu" and self._settings.prepacked_weights == "auto":
            shares = thread_shares(self._threads, self._workers)
            self._prepacked = prepack_transformer(head.transformer, self._batch_tokens, shares)
        if self._packing is not None:
            self._model.set_attn_implementation(PACKED_ATTENTION)
        log.info(
            "torch engine: %s (%s) %s on %s (%s, %d threads%s), limit %d tokens, %s batches of up to %d tokens%s, "
            "%d at once",
            self._model_source.family.name,
            self._model_source.family.form,
            path,
            device,
            self._dtype,
            torch.get_num_threads(),
            f", {self._prepacked} linear layers prepacked for oneDNN" if self._prepacked else "",
            self._model_source.max_model_len,
            self._batch_layout(),
            self._batch_tokens,
            "" if self._settings.max_batch_tokens is not None else f" (the {device.type} default)",
            self._workers,
        )

    def _batch_layout(self) -> str:
        if self._packing is None:
            return "padded"
        if self._packing.causal and self._settings.prefix_reuse:
            return "packed (shared prompt prefixes computed once)"
        return "packed"

    async def _classify(self, encoded: list[EncodedPair]) -> list[float]:
        # Identical inputs (a document sent twice, a chunk repeated) run once: they get one score,
        # so they tie exactly and keep the order they came in. Run apart, in batches of other
        # sizes, the matrix kernels could sum them in another order and part them in the last bits.
        keys = [
            e.input_ids.tobytes() + (b"" if e.token_type_ids is None else e.token_type_ids.tobytes()) for e in encoded
        ]
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        if len(first) == len(encoded):
            return await self._classify_distinct(encoded)
        distinct = sorted(first.values())
        slot = {keys[i]: n for n, i in enumerate(distinct)}
        scores = await self._classify_distinct([encoded[i] for i in distinct])
        return [scores[slot[key]] for key in keys]

    async def _classify_distinct(self, encoded: list[EncodedPair]) -> list[float]:
        assert self._batcher is not None  # scoring starts after start()
        lengths = [len(e.input_ids) for e in encoded]
        if self._packing is None or not self._packing.causal:
            return await self._batcher.submit(encoded, lengths)
        # A decoder's pairs carry how many leading tokens the request's pairs share; a batch lays
        # those out once. Each pair's budget share counts its own tokens and its part of the prefix.
        # Where attention copies the prefix to every pair (no CPU kernel that merges the two
        # halves), memory grows with pairs x prefix: each pair is charged its whole length.
        shared = shared_prefix([e.input_ids for e in encoded]) if self._settings.prefix_reuse else 0
        if shared and not attends_prefix_once(self._device):
            costs = lengths
        else:
            prefix_share = -(-shared // len(encoded))
            costs = [n - shared + prefix_share for n in lengths]
        return await self._batcher.submit([(e, shared) for e in encoded], costs)

    async def _embed(self, token_ids: list[np.ndarray]) -> list[np.ndarray]:
        assert self._batcher is not None  # scoring starts after start()
        return await self._batcher.submit(token_ids, [len(ids) for ids in token_ids])

    @torch.inference_mode()
    def _run_batch(self, items: list[Any]) -> list[Any]:
        if self._packing is not None:
            return self._run_packed(self._packing, items)
        assert self._head is not None  # set by _load
        return self._head.forward(items)

    def _run_packed(self, packing: Packing, items: list[Any]) -> list[float]:
        if packing.causal:
            batch = pack_decoder_pairs([e.input_ids for e, _ in items], [shared for _, shared in items])
        else:
            segments = items[0].token_type_ids is not None
            batch = pack_encoder_pairs(
                [e.input_ids for e in items],
                [e.token_type_ids for e in items] if segments else None,
                packing.first_position,
            )
        assert self._device is not None  # set by _load
        scores = run_packed(self._model, packing, batch.to(self._device))
        return scores.reshape(len(items), -1)[:, 0].float().cpu().tolist()
