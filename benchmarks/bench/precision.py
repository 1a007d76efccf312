"""The precision every system of a point runs: --dtype as the server would resolve it."""

from __future__ import annotations

import json
from pathlib import Path


def resolve_precision(requested: str, device: str, model: Path) -> str:
    """The dtype the server would pick for ``requested`` (its own rule), so every system runs the
    same one."""
    if requested != "auto":
        return requested
    import torch

    config = json.loads((model / "config.json").read_text())
    try:
        from reranker.engine.precision import dtype_name, pick_dtype

        return dtype_name(pick_dtype("auto", torch.device(device), config))
    except (ImportError, TypeError):  # no server package here, or its rule takes other inputs
        return "float32" if device == "cpu" else "float16"
