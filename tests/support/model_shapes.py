"""Random-weight models in the shapes of real ones, for tests of what depends on the shape
(memory): the benchmark's builders (benchmarks/model_shapes.py), built once into its cache, and
a model directory's parameter count."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path


def cross_encoder(shape: str) -> Path:
    """A cross-encoder of the benchmark's ``shape`` (``bge-reranker-base``, ...)."""
    from benchmarks import model_shapes

    return model_shapes.cross_encoder(shape)


def llm_reranker(shape: str) -> Path:
    """A Qwen3-Reranker of the benchmark's ``shape`` (``qwen3-reranker-0.6b-4-layers``, ...)."""
    from benchmarks import model_shapes

    return model_shapes.llm_reranker(shape)


def shape_config(shape: str) -> dict:
    """The config values of the benchmark's cross-encoder or LLM reranker ``shape``."""
    from benchmarks import model_shapes

    if shape in model_shapes.SHAPES:
        return dict(model_shapes.SHAPES[shape][1])
    return dict(model_shapes.LLM_SHAPES[shape])


def parameters(model_dir: Path) -> int:
    """The parameters in a model directory's safetensors files (each tensor once, as saved: tied
    weights are saved once), read from their headers."""
    total = 0
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no safetensors files in {model_dir}")
    for path in files:
        with path.open("rb") as file:
            (size,) = struct.unpack("<Q", file.read(8))
            header = json.loads(file.read(size))
        total += sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    return total
