"""Where the torch engine runs and in which precision.

Kept apart from the engine so the choice can be tested (and explained in the log) without
loading a model.

On CPU, ``--dtype auto`` asks torch whether the CPU computes bfloat16 natively (AMX or
AVX512-BF16, through oneDNN). With AMX bfloat16 is 2x to 2.5x faster than float32; where it is
emulated it is several times slower, so there float32 is the choice.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Bf16Support:
    """Whether this CPU computes bfloat16 natively, and why (the reason goes to the log)."""

    native: bool
    reason: str


def pick_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is available")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device, config: dict[str, Any]) -> torch.dtype:
    if requested != "auto":
        return _DTYPES[requested]
    if device.type == "cpu":
        support = cpu_bf16_support()
        dtype = torch.bfloat16 if support.native else torch.float32
        log.info("dtype auto: %s (%s)", dtype_name(dtype), support.reason)
        return dtype
    own = config.get("torch_dtype") or config.get("dtype")
    dtype = _DTYPES[own] if own in ("float16", "bfloat16") else torch.float16
    log.info("dtype auto: %s on %s (model config: %s)", dtype_name(dtype), device.type, own or "none")
    return dtype


def vllm_dtype(requested: str, on_cpu: bool) -> str:
    """The --dtype handed to vLLM. On CPU, auto follows the rule above: vLLM's own auto picks
    float16 for pooling models, which is emulated (as slow as bfloat16) on CPUs without AMX or
    AVX512; on GPU vLLM's auto stays."""
    if requested != "auto" or not on_cpu:
        return requested
    return dtype_name(pick_dtype("auto", torch.device("cpu"), {}))


@functools.cache
def cpu_bf16_support() -> Bf16Support:
    """Ask torch (not the model name, not /proc/cpuinfo) what this CPU does with bfloat16."""
    amx, avx512_bf16 = _cpu_bf16_features()
    if not (amx or avx512_bf16):
        return Bf16Support(False, "no AMX/AVX512-BF16: bfloat16 would be emulated, several times slower")
    unit = "AMX" if amx else "AVX512-BF16"
    if not _onednn_takes_bf16():
        return Bf16Support(False, f"CPU has {unit}, but this torch build has no oneDNN bfloat16 path")
    return Bf16Support(True, f"CPU has {unit}")


def _cpu_bf16_features() -> tuple[bool, bool]:
    """(AMX-BF16, AVX512-BF16) as torch's cpuinfo sees them."""
    try:
        capabilities = getattr(torch.cpu, "get_capabilities", None)
        if capabilities is not None:  # the public API, where this torch has it (2.13 does)
            caps = capabilities()
            return bool(caps.get("amx_bf16", False)), bool(caps.get("avx512_bf16", False))
        # Older torch (2.2 on, 2.11 included): the same cpuinfo bits behind private helpers.
        # Every AMX CPU so far has AMX-BF16 next to the tile unit.
        amx = torch.cpu._is_amx_tile_supported()
        return bool(amx), bool(torch.cpu._is_avx512_bf16_supported())
    except (AttributeError, RuntimeError):
        return False, False  # cannot tell: float32 is never the slow choice


def _onednn_takes_bf16() -> bool:
    """Whether torch sends bfloat16 matmuls to oneDNN (necessary, not sufficient: oneDNN also
    emulates bfloat16 on plain AVX512, which is no faster than float32)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True  # the op is missing in this build: let the ISA bits decide


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``"bfloat16"``: the spelling of --dtype."""
    return str(dtype).removeprefix("torch.")
