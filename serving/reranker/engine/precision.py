"""Where the torch engine runs and in which precision.

Kept apart from the engine so the choice can be tested (and explained in the log) without
loading a model.
"""

from __future__ import annotations

from typing import Any

import torch

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


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
        # Exact scores, and fast everywhere: bfloat16 pays off only on CPUs with AMX (measured
        # 400x slower for a matmul on a CPU without it); opt in with --dtype bfloat16.
        return torch.float32
    own = config.get("torch_dtype") or config.get("dtype")
    return _DTYPES.get(own, torch.float16) if own in ("float16", "bfloat16") else torch.float16
