"""The memory bound (reranker.engine.memory_bound): its server limits are the server's defaults,
and every model component that claims the cpu overlay fits the overlay's memory limit by it.
tests/serving/process/test_peak_memory.py holds the real server under the bound."""

from __future__ import annotations

import json

import pytest

from harness.peak_memory import GIB, MIB, components_claiming, overlay_memory_limit
from reranker.config import Settings
from reranker.engine.memory_bound import ModelShape, ServerLimits, memory_bound
from tests.support import model_shapes

# One copy of bge-reranker-base's tokenizer (XLM-R's 250,002-piece Unigram), which the benchmark's
# shape cannot have offline (it trains a small WordPiece): a Unigram of 250,000 pieces of its
# vocabulary's mix of scripts, built with `tokenizers`, held 312 MiB. The server holds two copies.
XLMR_TOKENIZER_BYTES = 320 * MIB
# The shapes of the components' models that we can build, and what their bench shape lacks.
COMPONENT_SHAPES = {"bge-reranker-base": ("bge-reranker-base", XLMR_TOKENIZER_BYTES)}
# Maximum-size requests at once that the cpu overlay is sized for (docs/api.md). Nothing in the
# server holds them to it: up to --max_concurrent_requests bodies may be parsed at once, and the
# text admitted requests hold is bounded by --max_queued_chars (16 maximum-size bodies). With
# XLM-R's tokenizer held twice, four come to 4.02 GiB.
OVERLAY_REQUESTS = 3


def test_settings_here_should_be_the_servers_defaults():
    """The bounds take max_documents, body and request limits from ServerLimits' defaults."""
    defaults, limits = Settings(), ServerLimits()
    assert (defaults.max_documents, defaults.max_body_bytes, defaults.max_request_tokens) == (
        limits.max_documents,
        limits.max_body_bytes,
        limits.max_request_tokens,
    )


@pytest.mark.slow  # builds a model in a real shape
@pytest.mark.parametrize("component", sorted(components_claiming("cpu")))
def test_components_claiming_the_cpu_overlay_should_fit_its_memory_limit(component):
    """Each model component that claims the cpu overlay, at the overlay's settings (float32 where
    the CPU has no native bfloat16, the CPU defaults, the component's length), with
    OVERLAY_REQUESTS maximum-size requests at once, is bounded within the pod's memory limit."""
    if component not in COMPONENT_SHAPES:
        pytest.skip(f"no model shape for {component} in benchmarks/model_shapes.py")
    shape_name, tokenizer_bytes = COMPONENT_SHAPES[component]
    annotations = components_claiming("cpu")[component]
    model_dir = model_shapes.cross_encoder(shape_name)
    config = json.loads((model_dir / "config.json").read_text())
    shape = ModelShape.from_config(
        config,
        model_shapes.parameters(model_dir),
        int(annotations["kserve-reranker.example.com/max-model-len"]),
        tokenizer_bytes=tokenizer_bytes,
    )
    bound = memory_bound(shape, ServerLimits(), OVERLAY_REQUESTS)
    limit = overlay_memory_limit("cpu")
    print(
        f"\n{component} on the cpu overlay ({limit / GIB:.0f} GiB): {bound.describe()}; "
        f"{bound.requests_within(limit)} maximum-size requests at once fit"
    )
    assert bound.total <= limit, f"{component}: {bound.describe()} over the cpu overlay's {limit / GIB:.1f} GiB"
