"""Linear layers on CPU with their weights reordered once for oneDNN.

torch's CPU linear layer hands oneDNN (or MKL) the weight in its plain layout, and the library
reorders it into its blocked layout on every call. Reordering once at load, as vLLM's CPU
backend does (``create_onednn_mm``) and as inductor does when it freezes a model, takes that work
out of every batch: the linear layers are most of a transformer's time on CPU.

The reordered weight replaces the plain one (memory stays the same). A layer's ``weight`` then
keeps its dtype and device but no values, so this is only done to model code from transformers,
whose layers call their linear modules and do not read their weights. A forward pass on a fixed
input, before and after, guards the rest: where the outputs differ or the new one fails, the
model is put back as it was.

Where a layer's output goes straight into its activation (BERT's intermediate GELU, the SiLU of a
Llama-style MLP's gate), oneDNN applies the activation inside the matrix product as a post-op,
which saves a pass over the largest activations of the layer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

# The guard's tolerance, relative to the largest output value: the reordered weights compute the
# same products in another order (about bfloat16's resolution), and a wrong kernel is far off.
GUARD_TOLERANCE = 0.02


def prepack_supported(dtype: torch.dtype) -> bool:
    """Whether this torch build's oneDNN runs linear layers of ``dtype`` from reordered weights."""
    ops = getattr(torch.ops, "mkldnn", None)
    if not torch.backends.mkldnn.is_available() or not hasattr(ops, "_linear_pointwise"):
        return False
    if dtype == torch.float32:
        return True
    if dtype == torch.bfloat16:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if dtype == torch.float16:
        return bool(torch.ops.mkldnn._is_mkldnn_fp16_supported())
    return False


def prepack_linear_layers(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> int:
    """Reorder the weights of ``model``'s CPU linear layers for oneDNN; how many were.

    ``forward`` runs the model on a fixed input; its output before and after must agree, or the
    layers are restored and 0 is returned.
    """
    layers = [m for m in model.modules() if type(m) is torch.nn.Linear and m.weight.device.type == "cpu"]
    if not layers or not prepack_supported(layers[0].weight.dtype):
        return 0
    fused = _fusable_activations(model)
    originals = [(layer, layer.weight) for layer in layers]
    with torch.inference_mode():
        try:
            expected = forward().float()
            for layer in layers:
                _prepack(layer, fused[layer].post_op if layer in fused else None)
            for fusion in fused.values():
                setattr(fusion.owner, fusion.attribute, torch.nn.Identity())  # the layer applies it now
            actual = forward().float()
        except Exception as exc:  # any failure leaves the model as it was
            log.warning("oneDNN-reordered linear weights failed (%s); using torch's linear layers", exc)
            _restore(originals, fused)
            return 0
    error = (actual - expected).abs().max().item()
    scale = expected.abs().max().item() or 1.0
    if not error <= GUARD_TOLERANCE * scale:  # also catches NaN
        log.warning(
            "oneDNN-reordered linear weights changed the model's output by %.3g (of %.3g); using torch's linear layers",
            error,
            scale,
        )
        _restore(originals, fused)
        return 0
    return len(layers)


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
