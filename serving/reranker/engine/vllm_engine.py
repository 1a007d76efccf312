"""The vLLM engine: vLLM's asynchronous engine with the pooling runner.

Every pair (cross-encoder) or text (embedding model) is its own vLLM request, so pairs from
concurrent HTTP requests meet in vLLM's scheduler, which batches them continuously; nothing here
holds a lock or waits for a batch to fill. Tokenizing is shared with the torch engine
(``inputs/``), so both engines cut documents, reject long inputs and count tokens alike.

LLM rerankers get their prompt template from the shared code too; an original (causal-LM)
Qwen3-Reranker is loaded through vLLM's own conversion (``hf_overrides``: its LM head's "yes"
row minus its "no" row becomes a one-label classifier), so it scores logit("yes") - logit("no")
as the torch engine does.

Imported only when the vLLM backend is chosen: ``vllm`` is an optional dependency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence

import numpy as np
import torch
from vllm import AsyncEngineArgs, PoolingParams, TokensPrompt
from vllm.platforms import current_platform
from vllm.v1.engine.async_llm import AsyncLLM

from ..config import Settings
from .base import EngineError, ModelKind
from .families import ScoreHead
from .inputs import EncodedPair
from .model_source import ResolvedModel
from .pair_engine import PairScoringEngine
from .precision import dtype_name, vllm_dtype

log = logging.getLogger(__name__)

# vLLM's pooling task for each kind of model.
_POOLING_TASK = {ModelKind.CROSS_ENCODER: "classify", ModelKind.EMBEDDING: "embed"}


def hf_overrides(model: ResolvedModel) -> dict[str, object] | None:
    """What vLLM must be told of a model its config misdescribes: an original Qwen3-Reranker's
    config says Qwen3ForCausalLM; vLLM serves it as a classifier made from its answer tokens."""
    family = model.family
    if family.head is not ScoreHead.YES_NO:
        return None
    return {
        "architectures": ["Qwen3ForSequenceClassification"],
        "classifier_from_token": list(family.answer_tokens or ()),
        "is_original_qwen3_reranker": True,
    }


def engine_args(settings: Settings, model: ResolvedModel) -> AsyncEngineArgs:
    """vLLM's engine arguments from the server settings (the flags pass straight through)."""
    overrides = hf_overrides(model)
    return AsyncEngineArgs(
        **({"hf_overrides": overrides} if overrides else {}),
        model=model.path,
        served_model_name=settings.served_model_name,
        runner="pooling",
        # On CPU, auto follows the torch engine's rule (bfloat16 only where the CPU has it).
        dtype=vllm_dtype(settings.dtype, on_cpu=current_platform.is_cpu()),
        max_model_len=model.max_model_len,
        gpu_memory_utilization=settings.gpu_memory_utilization,
        max_num_seqs=settings.max_num_seqs,
        max_num_batched_tokens=settings.max_num_batched_tokens,
        enforce_eager=settings.enforce_eager,
        tensor_parallel_size=settings.tensor_parallel_size,
        trust_remote_code=settings.trust_remote_code,
        # The server's /metrics reports requests; vLLM's periodic stats lines would only add noise.
        disable_log_stats=True,
        # None: vLLM's choice, on where it supports prefix caching for the model (decoders read at
        # their last token: LLM rerankers); --no-prefix_reuse turns it off.
        enable_prefix_caching=None if settings.prefix_reuse else False,
    )


def segment_boundary(token_type_ids: Sequence[int] | np.ndarray | None) -> int | None:
    """Where the document's segment starts: vLLM takes this index instead of the whole list
    (its runner rebuilds token_type_ids as 0 before it and 1 from it)."""
    if token_type_ids is None or len(token_type_ids) == 0:
        return None
    types = list(token_type_ids)
    return types.index(1) if 1 in types else len(types)


def token_list(ids: Sequence[int] | np.ndarray) -> list[int]:
    """Token ids as the plain ints vLLM's prompts take (the shared inputs are numpy arrays)."""
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


class VllmEngine(PairScoringEngine):
    def __init__(self, settings: Settings, model: ResolvedModel):
        super().__init__(settings, model, "vllm")
        self._engine: AsyncLLM | None = None

    @property
    def _started(self) -> bool:
        return self._engine is not None

    def _resolved(self, part: str, field: str):
        """``vllm_config.<part>.<field>`` of the started engine: what vLLM resolved (None before)."""
        return getattr(getattr(getattr(self._engine, "vllm_config", None), part, None), field, None)

    @property
    def dtype(self) -> str | None:
        """The dtype vLLM loaded the weights in (its auto resolved)."""
        dtype = self._resolved("model_config", "dtype")
        return None if dtype is None else dtype_name(dtype)

    @property
    def batch_tokens(self) -> int | None:
        """vLLM's tokens per scheduler step: --max_num_batched_tokens, or what vLLM chose."""
        return self._resolved("scheduler_config", "max_num_batched_tokens")

    async def start(self) -> None:
        from transformers import AutoTokenizer

        path = self._model_source.path
        # Our own copy of the model's tokenizer, the same one the torch engine uses, so that both
        # engines build identical token ids; vLLM receives ids, never text.
        self._tokenizer = await asyncio.to_thread(
            AutoTokenizer.from_pretrained, path, trust_remote_code=self._settings.trust_remote_code
        )
        # Building the engine blocks for seconds to minutes (weights, warm-up); off the event loop
        # the server keeps answering liveness probes meanwhile. vLLM starts its output handler on
        # the first request, inside the loop.
        self._engine = engine = await asyncio.to_thread(
            AsyncLLM.from_engine_args, engine_args(self._settings, self._model_source)
        )
        supported = await engine.get_supported_tasks()
        task = _POOLING_TASK[self._model_source.kind]
        if task not in supported:
            await self.stop()
            raise RuntimeError(
                f"vLLM cannot serve {path} as a {self._model_source.kind.value}: the model supports "
                f"{', '.join(supported) or 'no pooling task'}, not {task}"
            )
        log.info(
            "vLLM engine: %s (%s) %s (%s), limit %d tokens",
            self._model_source.family.name,
            self._model_source.family.form,
            path,
            task,
            self._model_source.max_model_len,
        )

    async def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        # Stop the output handler first: once the engine process is gone it would log the
        # expected disconnect as an error.
        if engine.output_handler is not None:
            engine.output_handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await engine.output_handler
        await asyncio.to_thread(engine.shutdown)

    async def _classify(self, encoded: list[EncodedPair]) -> list[float]:
        # Raw logits from vLLM; the shared scoring applies the sigmoid. vLLM would apply the
        # activation a model's sentence-transformers config names (Identity for some rerankers),
        # and both engines must give the same scores.
        params = PoolingParams(task="classify", use_activation=False)
        outputs = await self._pool_all([self._pair_request(e, params) for e in encoded])
        return [float(out[0]) for out in outputs]  # one label each

    async def _embed(self, token_ids: list[np.ndarray]) -> list[torch.Tensor]:
        params = PoolingParams(task="embed")
        return await self._pool_all([(TokensPrompt(prompt_token_ids=token_list(ids)), params) for ids in token_ids])

    @staticmethod
    def _pair_request(pair: EncodedPair, params: PoolingParams) -> tuple[TokensPrompt, PoolingParams]:
        boundary = segment_boundary(pair.token_type_ids)
        if boundary is not None:
            params = params.clone()
            params.extra_kwargs = {"compressed_token_type_ids": boundary}
        return TokensPrompt(prompt_token_ids=token_list(pair.input_ids)), params

    async def _pool_all(self, requests: list[tuple[TokensPrompt, PoolingParams]]) -> list[torch.Tensor]:
        """Submit every request at once and wait for all: vLLM batches them with everyone else's."""
        batch_id = uuid.uuid4().hex
        pending = [self._pool_one(f"{batch_id}-{i}", prompt, params) for i, (prompt, params) in enumerate(requests)]
        return list(await asyncio.gather(*pending))

    async def _pool_one(self, request_id: str, prompt: TokensPrompt, params: PoolingParams) -> torch.Tensor:
        assert self._engine is not None
        # Rendered as vLLM's own serving code does (the engine takes rendered inputs, not prompts).
        engine_input = self._engine.renderer.process_for_engine(prompt, time.time())
        final = None
        try:
            # Cancelling this coroutine (a client that went away) makes vLLM abort the request.
            async for output in self._engine.encode(engine_input, params, request_id):
                final = output
        except Exception as exc:  # vLLM raises many types; to the API each is an engine failure
            raise EngineError(f"vLLM failed on request {request_id}: {exc}") from exc
        if final is None:
            raise EngineError(f"vLLM returned no output for request {request_id}")
        return final.outputs.data


__all__ = ["VllmEngine", "engine_args", "hf_overrides", "segment_boundary", "token_list"]
