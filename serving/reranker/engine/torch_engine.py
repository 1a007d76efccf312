"""The torch engine: transformers / sentence-transformers on CPU, or CUDA when present.

Cross-encoders score each pair with one logit (sigmoid by default); LLM rerankers in causal-LM
form with logit("yes") - logit("no") at the pair's last token (its sigmoid is the model card's
P(yes)); embedding models embed the query and each document and score their cosine similarity.
Tokenizing runs in a worker thread and the model in the batcher's compute thread, so the event
loop only moves results around.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Settings
from .base import BatchObserver, ModelKind
from .batcher import DynamicBatcher
from .families import ScoreHead
from .inputs import EncodedPair
from .model_source import ResolvedModel
from .packing import (
    PACKED_ATTENTION,
    Packing,
    attends_prefix_once,
    pack_decoder_pairs,
    pack_encoder_pairs,
    packing_for,
    run_packed,
    shared_prefix,
)
from .pair_engine import PairScoringEngine
from .precision import dtype_name, pick_device, pick_dtype
from .prepacked_linear import prepack_linear_layers

log = logging.getLogger(__name__)


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the container may use by its cgroup quota (v2 ``cpu.max`` or v1 CFS), if limited."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def compute_threads(quota: float | None) -> int:
    """Torch threads for CPU inference: the pod's CPU limit, not the node's core count.

    Torch sizes its pool by the cores it sees; in a pod limited to 2 CPUs on a 64-core node that
    is 64 threads throttled by the quota, many times slower than 2.
    """
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(visible, math.ceil(quota))) if quota else visible


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


def model_workers(requested: int | None, device: torch.device, threads: int) -> int:
    """Model batches run at once: --model_workers, or 2 on a CPU with 2 threads or more.

    Within one batch torch parallelises each operation, and between operations (Python, small
    attention calls) its other threads wait: on 2 cores one batch kept them about 85% busy. Two
    batches at once, each on its own thread, fill those gaps; make bench measured it about 10%
    faster on 2 cores. A GPU runs one batch at a time.
    """
    if requested is not None:
        return requested if device.type == "cpu" else 1
    return 2 if device.type == "cpu" and threads >= 2 else 1


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


def thread_shares(threads: int, workers: int) -> list[int]:
    """Each model worker's torch threads: ``threads`` shared out."""
    return [max(1, threads // workers + (1 if i < threads % workers else 0)) for i in range(workers)]


def worker_threads(threads: int, workers: int) -> Callable[[], None]:
    """Sets each model worker's torch threads (per thread in OpenMP): the threads shared out."""
    shares = thread_shares(threads, workers)
    lock = threading.Lock()

    def init() -> None:
        with lock:
            share = shares.pop() if shares else 1
        # ATen sets a thread's OpenMP count from the process-wide value at that thread's first
        # torch operation, which would undo a share set before it (by then another worker has
        # set the process-wide value to its own share): take that first operation now.
        torch.get_num_threads()
        torch.set_num_threads(share)

    return init


class TorchEngine(PairScoringEngine):
    def __init__(self, settings: Settings, model: ResolvedModel):
        super().__init__(settings, model, "torch")
        self._observer: BatchObserver | None = None
        self._model: Any = None
        self._device: torch.device | None = None
        self._batcher: DynamicBatcher | None = None
        self._answer: torch.Tensor | None = None  # causal LM rerankers: lm_head row yes - row no
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
        remote = self._settings.trust_remote_code
        head = self._model_source.family.head
        model: torch.nn.Module
        if head is ScoreHead.YES_NO:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            self._tokenizer = _right_padding(AutoTokenizer.from_pretrained(path, trust_remote_code=remote))
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=remote)
            self._answer = _answer_direction(model, self._tokenizer, self._model_source.family.answer_tokens)
            self._answer = self._answer.to(device)
        elif self._model_source.kind is ModelKind.CROSS_ENCODER:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=remote)
            classifier = AutoModelForSequenceClassification.from_pretrained(path, dtype=dtype, trust_remote_code=remote)
            self._tokenizer = _right_padding(self._tokenizer)
            # A decoder classifier reads its last token that is not padding; it must know padding.
            if classifier.config.pad_token_id is None:
                classifier.config.pad_token_id = self._tokenizer.pad_token_id
            model = classifier
        else:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(
                path, device=str(device), trust_remote_code=remote, model_kwargs={"dtype": dtype}
            )
            self._tokenizer = model.tokenizer
        self._model = model.to(device).eval()
        self._device = device
        if self._workers > 1 and (shared_state := state_changed_by_forward(self._model)):
            log.warning("one model worker instead of %d: %s", self._workers, shared_state)
            self._workers = 1
        packed = self._settings.packed_batches == "on" or (
            self._settings.packed_batches == "auto" and device.type == "cpu"
        )
        if packed and self._model_source.kind is ModelKind.CROSS_ENCODER:  # embedding models stay padded
            self._packing = packing_for(self._model, self._answer)
        self._dtype = dtype_name(dtype)
        self._batch_tokens = batch_token_budget(self._settings.max_batch_tokens, device, self._packing is not None)
        # Checked up to the batch budget, and before packed attention: the check's forward pass is unpacked.
        if device.type == "cpu" and self._settings.prepacked_weights == "auto":
            self._prepacked = _prepack(model, self._batch_tokens, thread_shares(self._threads, self._workers))
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
        if self._answer is not None:
            features = self._pad({"input_ids": [e.input_ids for e in items]})
            # The decoder's last hidden state at each pair's last real token, times the two answer
            # rows of the LM head: the logits of the whole vocabulary are never made.
            hidden = self._model.base_model(**features).last_hidden_state
            mask = features["attention_mask"]
            last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(dim=1)
            states = hidden[torch.arange(len(items), device=hidden.device), last]
            return (states.float() @ self._answer).cpu().tolist()
        if self._model_source.kind is ModelKind.CROSS_ENCODER:
            segments = items[0].token_type_ids is not None
            features = self._pad(
                {"input_ids": [e.input_ids for e in items]}
                | ({"token_type_ids": [e.token_type_ids for e in items]} if segments else {})
            )
            return self._model(**features).logits[:, 0].float().cpu().tolist()
        features = self._pad({"input_ids": items})
        embeddings = self._model(features)["sentence_embedding"].float()
        # Arrays, made here: the event loop then computes cosines without touching torch.
        return list(torch.nn.functional.normalize(embeddings, dim=-1).cpu().numpy())

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

    def _pad(self, columns: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
        padded = self._tokenizer.pad(columns, return_tensors="pt")
        return {key: value.to(self._device) for key, value in padded.items()}


def _prepack(model: Any, batch_tokens: int, thread_counts: list[int]) -> int:
    """Reorder the linear weights of ``model``'s transformer (transformers' own code only: remote
    code may read its weights) for oneDNN, checked on up to ``batch_tokens`` rows at each model
    worker's ``thread_counts``; how many layers were.

    The transformer includes BERT's pooler. The heads outside it keep torch's layers: a
    classifier or a decoder's score head runs on one row per pair, where a reorder would save next
    to nothing, and an LM head never runs (its two answer rows are read at load)."""
    transformer = model[0].auto_model if hasattr(model, "encode") else model.base_model  # sentence-transformers
    if not type(transformer).__module__.startswith("transformers."):
        return 0
    # A fixed input of 16 tokens, and no key/value cache where the model would build one.
    ids = torch.arange(1, 17).remainder(transformer.config.vocab_size).unsqueeze(0)
    extra = {"use_cache": False} if "use_cache" in inspect.signature(transformer.forward).parameters else {}
    return prepack_linear_layers(
        transformer, lambda: transformer(input_ids=ids, **extra).last_hidden_state, batch_tokens, thread_counts
    )


def _right_padding(tokenizer: Any) -> Any:
    """Pad after each prompt, so that every real token keeps its position (the pairs' last
    tokens are found from the attention mask); a tokenizer without a pad token pads with EOS."""
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _answer_direction(model: Any, tokenizer: Any, answers: tuple[str, str] | None) -> torch.Tensor:
    """The LM head's row for the positive answer minus the negative's: a hidden state times it is
    logit("yes") - logit("no"), whose sigmoid is softmax([no, yes])[yes], the model card's score."""
    assert answers is not None
    ids = []
    for token in answers:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise RuntimeError(f"the tokenizer has no token {token!r}: not an LLM reranker of this family")
        ids.append(token_id)
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise RuntimeError("an LM head with a bias is not supported for yes/no scoring")
    weight = head.weight.detach()  # rows taken before the cast: no float32 copy of the whole head
    return weight[ids[1]].float() - weight[ids[0]].float()


__all__ = ["TorchEngine", "EncodedPair", "pick_device", "pick_dtype"]
