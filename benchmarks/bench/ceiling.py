"""The hardware's limit for a workload: the measured matrix-multiply peak divided by the model
FLOPs one pair costs, so that each docs/s figure reads as a fraction of what the machine can do.

Model FLOPs count what a pair needs, not what an implementation spends: the linear layers at 2
FLOPs per weight per token, and attention's two products (scores and the weighted sum) over the
pair's own tokens, half of them under a causal mask. Padding is not counted, and an LLM
reranker's shared prompt prefix is counted once per request (as prefix reuse computes it), its
keys attended by every pair. Embedding lookups, norms, activations and the classifier are left
out: they are a few percent of the linear work, and the ceiling is an upper bound.

The peak is that of large square matrix products in the run's dtype, on the threads the
benchmark's systems use, measured in the same run as the figures it divides.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The peak's product: square, grown from the smallest until one product takes PEAK_STEP_S (or the
# largest), so that a dtype the CPU only emulates (float16, bfloat16 without AVX512-BF16), tens of
# times slower, costs a second, not minutes.
PEAK_SIZES = (256, 512, 1024, 2048, 4096)
PEAK_STEP_S = 0.1
PEAK_SECONDS = 0.5  # of products at the chosen size


@dataclass(frozen=True)
class ModelFlops:
    """What a model's config says of its per-token work."""

    layers: int
    hidden: int
    linear_weights: int  # per layer: attention projections and MLP
    attention_width: int  # query heads x head size
    causal: bool

    @classmethod
    def from_config(cls, config: dict) -> ModelFlops:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        head_size = int(config.get("head_dim") or hidden // heads)
        kv_heads = int(config.get("num_key_value_heads") or heads)
        intermediate = int(config.get("intermediate_size") or 4 * hidden)
        causal = any("CausalLM" in a for a in config.get("architectures") or []) or config.get("model_type") in (
            "qwen3",
            "qwen2",
            "llama",
        )
        attention = hidden * heads * head_size * 2 + hidden * kv_heads * head_size * 2  # q, o; k, v
        gated = config.get("hidden_act") in ("silu", "swiglu") or causal  # gate and up projections
        mlp = hidden * intermediate * (3 if gated else 2)
        if config.get("model_type") == "modernbert":  # Wi is gated (2 x intermediate), Wo one
            mlp = hidden * intermediate * 3
        return cls(int(config["num_hidden_layers"]), hidden, attention + mlp, heads * head_size, causal)

    def tokens(self, count: int, context: int = 0) -> float:
        """FLOPs of ``count`` tokens attending to each other (causally for a decoder) and to
        ``context`` tokens before them."""
        linear = 2 * self.linear_weights * count
        pairs = count * count / 2 if self.causal else count * count
        attention = 2 * 2 * self.attention_width * (pairs + count * context)
        return self.layers * (linear + attention)


def pair_flops(model: ModelFlops, pair_tokens: list[int], prefix_tokens: int = 0) -> float:
    """Mean FLOPs per pair of one request: each pair's own tokens, and a shared prefix of
    ``prefix_tokens`` computed once for all of them."""
    own = sum(model.tokens(n - prefix_tokens, prefix_tokens) for n in pair_tokens)
    return (own + model.tokens(prefix_tokens)) / len(pair_tokens)


def matmul_peak(dtype: str = "float32", device: str = "cpu") -> float:
    """The FLOP/s of square products in ``dtype`` on ``device`` (this process's threads), at the
    size PEAK_SIZES reaches within PEAK_STEP_S a product."""
    import torch

    kind = getattr(torch, dtype)

    def timed(a: Any, b: Any) -> float:
        started = time.perf_counter()
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()
        return time.perf_counter() - started

    for size in PEAK_SIZES:
        a = torch.randn(size, size, device=device).to(kind)
        b = torch.randn(size, size, device=device).to(kind)
        timed(a, b)  # warm-up: packing, kernel choice
        if timed(a, b) >= PEAK_STEP_S:
            break
    runs, elapsed = 0, 0.0
    while elapsed < PEAK_SECONDS or runs < 2:
        elapsed += timed(a, b)
        runs += 1
    return 2 * size**3 * runs / elapsed


def workload_pair_flops(model_dir: Path, bodies: list[dict], llm: bool, sample: int = 8) -> float:
    """Mean model FLOPs per pair over the first ``sample`` request bodies, tokenized as the
    server tokenizes them (an LLM reranker's prompt template included)."""
    import numpy as np
    from transformers import AutoTokenizer

    from reranker.engine.inputs.policy import InputLimits, TruncationPolicy, encode_pair_inputs, encode_prompted_pairs
    from reranker.engine.inputs.prompt import Prompt
    from reranker.engine.inputs.tokens import TokenReader
    from reranker.engine.packing import shared_prefix

    config = json.loads((model_dir / "config.json").read_text())
    model = ModelFlops.from_config(config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    reader = TokenReader(tokenizer)
    limits = InputLimits(int(tokenizer.model_max_length), TruncationPolicy.TRUNCATE, None, None)
    per_request = []
    for body in bodies[:sample]:
        pairs = [(body["query"], document) for document in body["documents"]]
        if llm:
            from reranker.engine.families import QWEN3_RERANKER_CAUSAL

            limits = InputLimits(4096, TruncationPolicy.TRUNCATE, None, None)
            prompt = Prompt.of(tokenizer, QWEN3_RERANKER_CAUSAL.template)
            inputs = encode_prompted_pairs(reader, prompt, body.get("instruction"), pairs, limits)
        else:
            inputs = encode_pair_inputs(reader, pairs, limits)
        ids = [np.asarray(e.input_ids) for e in inputs.encoded]
        prefix = shared_prefix(ids) if llm else 0
        per_request.append(pair_flops(model, [len(i) for i in ids], prefix))
    return sum(per_request) / len(per_request)


def ceilings(workloads: list, dtypes: set[str], device: str) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """Docs/s each (workload, dtype) could reach at the measured peak, and the peaks (FLOP/s)."""
    peaks = {dtype: matmul_peak(dtype, device) for dtype in sorted(dtypes)}
    limits = {}
    for workload in workloads:
        flops = workload_pair_flops(workload.model, workload.bodies, workload.kind == "llm")
        for dtype, peak in peaks.items():
            limits[(workload.name, dtype)] = peak / flops
    return limits, peaks
