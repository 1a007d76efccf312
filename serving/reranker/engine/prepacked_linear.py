"""Linear layers on CPU with their weights reordered once for oneDNN.

torch's CPU linear layer hands oneDNN (or MKL) the weight in its plain layout, and the library
reorders it into its blocked layout on every call. Reordering once at load, as vLLM's CPU
backend does (``create_onednn_mm``) and as inductor does when it freezes a model, takes that work
out of every batch: the linear layers are most of a transformer's time on CPU.

The reordered weight replaces the plain one (memory stays the same). A layer's ``weight`` then
keeps its dtype and device but no values, so this is only done to model code from transformers,
whose layers call their linear modules and do not read their weights.

A guard runs at load, and where anything in it differs or fails, the model is put back as it was.
Each reordered layer must compute what torch's linear layer (and the activation it took over)
computes, on random rows at row counts up to the batch budget, in threads set to each model
worker's torch threads: oneDNN picks its kernels by the row count and the threads, and has had
wrong float32 reorders on some platforms (aarch64). A forward pass on a fixed input, before and
after, guards the code around the layers: the activations taken out of it, a weight read.

Where a layer's output goes straight into its activation (BERT's intermediate GELU, the SiLU of a
Llama-style MLP's gate), oneDNN applies the activation inside the matrix product as a post-op,
which saves a pass over the largest activations of the layer.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

# The forward pass's tolerance, relative to the largest output value: the reordered weights compute
# the same products in another order (about bfloat16's resolution), and wrong code is far off.
FORWARD_TOLERANCE = 0.02


def prepack_supported(dtype: torch.dtype) -> bool:
    """Whether this torch build's oneDNN runs linear layers of ``dtype`` from reordered weights."""
    ops = getattr(torch.ops, "mkldnn", None)
    if not torch.backends.mkldnn.is_available() or not hasattr(ops, "_linear_pointwise"):
        return False
    if dtype == torch.float32:
        return True
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and _reorders(dtype)
    if dtype == torch.float16:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported()) and _reorders(dtype)
    return False


@functools.cache
def _reorders(dtype: torch.dtype) -> bool:
    """Whether oneDNN reorders a weight of ``dtype`` on this CPU: its reorder needs more of the
    CPU (avx_ne_convert, or AVX512 BW/VL/DQ) than the precision check above asks for."""
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.zeros(16, 16, dtype=dtype))
    except RuntimeError:
        return False
    return True


def prepack_linear_layers(
    model: torch.nn.Module, forward: Callable[[], torch.Tensor], batch_tokens: int, thread_counts: Sequence[int]
) -> int:
    """Reorder the weights of ``model``'s CPU linear layers for oneDNN; how many were.

    Each layer is checked on up to ``batch_tokens`` rows, in a thread for each of ``thread_counts``
    (each model worker's torch threads); ``forward`` runs the model on a fixed input, whose output
    before and after must agree. Where anything differs or fails, the layers are restored and 0 is
    returned.
    """
    layers = {
        name: m for name, m in model.named_modules() if type(m) is torch.nn.Linear and m.weight.device.type == "cpu"
    }
    if not layers or not prepack_supported(next(iter(layers.values())).weight.dtype):
        return 0
    fused = _fusable_activations(model)
    originals = [(layer, layer.weight) for layer in layers.values()]
    with torch.inference_mode():
        try:
            expected = forward().float()
            checks = _layer_checks(layers, fused, batch_tokens)
            for layer in layers.values():
                _prepack(layer, fused[layer].post_op if layer in fused else None)
            for fusion in fused.values():
                setattr(fusion.owner, fusion.attribute, torch.nn.Identity())  # the layer applies it now
            actual = forward().float()
        except Exception as exc:  # any failure leaves the model as it was
            log.warning("oneDNN-reordered linear weights failed (%s); using torch's linear layers", exc)
            _restore(originals, fused)
            return 0
    problem = _run_checks(checks, thread_counts) or _forward_changed(expected, actual)
    if problem is not None:
        log.warning("oneDNN-reordered linear weights: %s; using torch's linear layers", problem)
        _restore(originals, fused)
        return 0
    return len(layers)


def prepack_transformer(transformer: Any, batch_tokens: int, thread_counts: Sequence[int]) -> int:
    """Reorder the linear weights of a model's transformer (transformers' own code only: remote
    code may read its weights) for oneDNN, checked on up to ``batch_tokens`` rows at each model
    worker's ``thread_counts``; how many layers were.

    The transformer includes BERT's pooler. The heads outside it keep torch's layers: a
    classifier or a decoder's score head runs on one row per pair, where a reorder would save next
    to nothing, and an LM head never runs (its two answer rows are read at load)."""
    if not type(transformer).__module__.startswith("transformers."):
        return 0
    # A fixed input of 16 tokens, and no key/value cache where the model would build one.
    ids = torch.arange(1, 17).remainder(transformer.config.vocab_size).unsqueeze(0)
    extra = {"use_cache": False} if "use_cache" in inspect.signature(transformer.forward).parameters else {}
    return prepack_linear_layers(
        transformer, lambda: transformer(input_ids=ids, **extra).last_hidden_state, batch_tokens, thread_counts
    )


def _forward_changed(expected: torch.Tensor, actual: torch.Tensor) -> str | None:
    error = (actual - expected).abs().max().item()
    scale = expected.abs().max().item() or 1.0
    if error <= FORWARD_TOLERANCE * scale:  # NaN is not
        return None
    return f"the model's output changed by {error:.3g} (of {scale:.3g})"


# --- each layer against torch's --------------------------------------------------------------------

# Row counts a layer is checked at, up to the batch budget (checked too): oneDNN picks its kernel,
# its blocks of rows and their split among threads by the count. One past a power of two, so that
# blocks of rows (powers of two) leave a remainder. A pair longer than the budget, in a batch of
# its own, gives a layer more rows than checked.
_ROW_LADDER = (1, 17, 129, 1025)
# Every layer is checked at the counts up to this one, and the first layer of each kind at all.
_EVERY_LAYER_ROWS = 17
# The random rows: this many, repeated to make more. A product's row depends on its input row
# alone, so torch's reference is computed for these only (at large counts that halves the check's
# time) and every output row is still compared; no block of up to 128 rows holds a repeat.
_PATTERN_ROWS = 129


def _tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(relative, absolute as a share of the outputs' RMS) for a reordered layer against torch's."""
    if dtype == torch.float32:
        # Both sum in_features products in float32 in other orders, which moves an output by
        # rounding of the size of its terms, not of itself (a sum near 0 cancelled larger terms):
        # measured at most 4e-6 of the outputs' RMS past 1e-5 relative (768 to 9728 in_features,
        # up to 8192 rows, GELU and SiLU fused). 1e-4 leaves 25 times that, and is 35 times below
        # what weights rounded to tf32 (3.7e-3) or bfloat16 (1.1e-2) would show: a reorder that
        # quietly drops precision fails too.
        return 1e-5, 1e-4
    # bfloat16 and float16: the precision tests' bound (tests/serving/engine/reference/test_reference_precision.py),
    # 48 unit roundoffs of the dtype, of each value (both sides round their outputs, the fused
    # activation once more) and of the outputs' RMS.
    roundoffs = 48 * torch.finfo(dtype).eps / 2
    return roundoffs, roundoffs


@dataclass(frozen=True)
class _LayerCheck:
    """One reordered layer against torch's linear layer and the activation it took over."""

    name: str
    layer: torch.nn.Linear
    weight: torch.Tensor  # the plain weight: the layer's own goes when it is reordered
    activation: Any  # the fused activation, or None
    pattern: torch.Tensor  # [_PATTERN_ROWS, in_features] random rows
    row_counts: tuple[int, ...]

    @property
    def cost(self) -> int:
        return sum(self.row_counts) * self.weight.numel()

    def run(self, threads: int) -> str | None:
        """What the layer gets wrong in this thread, or None."""
        pattern = self.pattern[: max(self.row_counts)]
        reference = torch.nn.functional.linear(pattern, self.weight, self.layer.bias)
        if self.activation is not None:
            reference = self.activation(reference)
        reference = reference.float()
        rtol, atol = _tolerance(self.weight.dtype)
        margin = atol * reference.pow(2).mean().sqrt().item()
        for rows in self.row_counts:
            where = f"layer {self.name} at {rows} rows on {threads} torch threads"
            try:
                actual = self.layer(pattern.repeat(-(-rows // len(pattern)), 1)[:rows])
                if actual.shape != (rows, reference.shape[1]):
                    return f"{where} gave a tensor of shape {tuple(actual.shape)}"
                excess = _excess(actual, reference, rtol)
            except Exception as exc:
                return f"{where} failed ({exc})"
            if not excess <= margin:  # NaN is not
                return (
                    f"{where} differs from torch's by {excess:.3g} more than {rtol:.3g} of it (tolerance {margin:.3g})"
                )
        return None


def _excess(actual: torch.Tensor, reference: torch.Tensor, rtol: float) -> float:
    """The largest |actual - expected| past ``rtol`` of |expected| (NaN if any is NaN), where the
    expected rows repeat ``reference``'s: a block of rows at a time, holding no copy of them all."""
    worst = 0.0
    for start in range(0, len(actual), len(reference)):
        block = actual[start : start + len(reference)].float()
        expected = reference[: len(block)]
        excess = ((block - expected).abs() - rtol * expected.abs()).max().item()
        if math.isnan(excess):
            return excess
        worst = max(worst, excess)
    return worst


def _layer_checks(
    layers: dict[str, torch.nn.Linear], fused: dict[torch.nn.Module, _Fusion], batch_tokens: int
) -> list[_LayerCheck]:
    """Every layer at a few rows: a weight is reordered once for all row counts, so a reorder gone
    wrong for one weight shows at any. The first layer of each shape, dtype, bias and post-op at
    every count up to the budget: the kernel a count selects runs the same code for all the
    weights of that kind. Checking every layer at every count would cost what the model's linear
    layers take for a batch of the budget's size: about 7 CPU-seconds per layer of Qwen3-0.6B's
    width at 8192 tokens, over 3 CPU-minutes for its 28 layers."""
    counts = tuple(sorted({n for n in _ROW_LADDER if n < batch_tokens} | {batch_tokens}))
    small = tuple(n for n in counts if n <= _EVERY_LAYER_ROWS)
    generator = torch.Generator().manual_seed(0)  # the same rows at every load: a failure repeats
    patterns: dict[tuple[int, torch.dtype], torch.Tensor] = {}
    kinds: set[tuple[Any, ...]] = set()
    checks = []
    for name, layer in layers.items():
        fusion = fused.get(layer)
        weight = layer.weight.detach()
        kind = (weight.shape, weight.dtype, layer.bias is None, fusion.post_op if fusion else None)
        first_of_kind = kind not in kinds
        kinds.add(kind)
        rows = patterns.setdefault(
            (layer.in_features, weight.dtype),
            torch.randn(_PATTERN_ROWS, layer.in_features, generator=generator).to(weight.dtype),
        )
        activation = fusion.activation if fusion else None
        checks.append(_LayerCheck(name, layer, weight, activation, rows, counts if first_of_kind else small))
    return checks


def _run_checks(checks: list[_LayerCheck], thread_counts: Sequence[int]) -> str | None:
    """Runs each check once at each thread count, in a thread per model worker, set up as a worker
    is (workers of one count share out its checks); the first problem found, or None."""
    own_threads = torch.get_num_threads()
    thread_counts = thread_counts or [own_threads]  # no workers named: this thread's count
    longest_first = sorted(checks, key=lambda check: check.cost, reverse=True)  # threads finish together
    pending = {threads: deque(longest_first) for threads in set(thread_counts)}
    problems: list[str] = []

    def work(threads: int) -> None:
        try:
            # As cpu_threads.worker_threads sets a worker's threads: a thread's first torch call
            # sets its OpenMP threads from the process-wide count, which the next line then replaces.
            torch.get_num_threads()
            torch.set_num_threads(threads)
            with torch.inference_mode():
                while not problems:
                    try:
                        check = pending[threads].popleft()
                    except IndexError:  # all done
                        return
                    if (problem := check.run(threads)) is not None:
                        problems.append(problem)
        except Exception as exc:
            problems.append(f"the check on {threads} torch threads failed ({exc})")

    workers = [threading.Thread(target=work, args=(threads,), name="prepack-check") for threads in thread_counts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # The workers set the process-wide count, which a new thread starts from: this thread's again.
    torch.set_num_threads(own_threads)
    return problems[0] if problems else None


# oneDNN's post-op (attribute, algorithm) for an activation.
PostOp = tuple[str, str]


@dataclass(frozen=True)
class _Fusion:
    post_op: PostOp  # what the linear layer computes after its product
    owner: torch.nn.Module  # the module holding the activation
    attribute: str  # the activation's attribute name there
    activation: Any  # the activation, put back if the model is restored


# Modules of transformers whose forward feeds a linear layer straight into an activation:
# (layer attribute, activation attribute). BERT, RoBERTa and XLM-R's intermediate layer; the
# gated MLP of Llama, Qwen2 and Qwen3 (act(gate(x)) * up(x)).
_FUSABLE = {"Intermediate": ("dense", "intermediate_act_fn"), "MLP": ("gate_proj", "act_fn")}


def _post_op(activation: Any) -> PostOp | None:
    """The post-op computing ``activation``, where oneDNN has it."""
    name = type(activation).__name__
    if isinstance(activation, torch.nn.ReLU):
        return ("relu", "")
    if isinstance(activation, torch.nn.SiLU) or name == "SiLUActivation":
        return ("swish", "")
    if isinstance(activation, torch.nn.GELU):
        return ("gelu", activation.approximate)
    if name == "GELUActivation" and getattr(activation, "act", None) is torch.nn.functional.gelu:
        return ("gelu", "none")
    if name in ("GELUTanh", "NewGELUActivation", "PytorchGELUTanh"):
        return ("gelu", "tanh")
    return None


def _fusable_activations(model: torch.nn.Module) -> dict[torch.nn.Module, _Fusion]:
    """Linear layers whose output goes straight into an activation oneDNN has."""
    fused: dict[torch.nn.Module, _Fusion] = {}
    for module in model.modules():
        kind = next((k for k in _FUSABLE if type(module).__name__.endswith(k)), None)
        if kind is None or not type(module).__module__.startswith("transformers."):
            continue
        layer_name, activation_name = _FUSABLE[kind]
        layer, activation = getattr(module, layer_name, None), getattr(module, activation_name, None)
        post_op = _post_op(activation)
        if type(layer) is torch.nn.Linear and post_op is not None:
            fused[layer] = _Fusion(post_op, module, activation_name, activation)
    return fused


def _prepack(layer: torch.nn.Linear, post_op: PostOp | None) -> None:
    weight = layer.weight.detach()
    packed = torch.ops.mkldnn._reorder_linear_weight(weight)
    bias = None if layer.bias is None else layer.bias.detach()
    out_features = layer.out_features
    attribute, algorithm = post_op or ("none", "")

    def forward(x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        if not rows.is_contiguous():
            rows = rows.contiguous()
        y = torch.ops.mkldnn._linear_pointwise(rows, packed, bias, attribute, [], algorithm)
        return y.reshape(*x.shape[:-1], out_features)

    layer.forward = forward  # type: ignore[method-assign,assignment]
    # The plain weight's values go: the reordered copy holds them. Its dtype and device stay.
    layer.weight = torch.nn.Parameter(weight.new_empty(0), requires_grad=False)


def _restore(originals: list[tuple[torch.nn.Linear, Any]], fused: dict[torch.nn.Module, _Fusion]) -> None:
    for layer, weight in originals:
        layer.__dict__.pop("forward", None)
        layer.weight = weight
    for fusion in fused.values():
        setattr(fusion.owner, fusion.attribute, fusion.activation)


def is_prepacked(layer: torch.nn.Module) -> bool:
    """Whether ``layer`` runs from a reordered weight (for tests and logs)."""
    return "forward" in layer.__dict__ and isinstance(layer, torch.nn.Linear)
