"""The memory bound (reranker.engine.memory_bound): its server limits are the server's defaults,
and every model component that claims the cpu overlay fits the overlay's memory limit by it, at
the settings the rendered overlay gives the server.
tests/serving/process/test_peak_memory.py holds the real server under the bound."""

from __future__ import annotations

import json

import pytest

from harness.peak_memory import GIB, MIB, REPO_ROOT, components_claiming, overlay_memory_limit
from reranker.config import Settings
from reranker.engine.memory_bound import ModelShape, ServerLimits, memory_bound
from tests.support import model_shapes

# One copy of bge-reranker-base's tokenizer (XLM-R's 250,002-piece Unigram), which the benchmark's
# shape cannot have offline (it trains a small WordPiece): a Unigram of 250,000 pieces of its
# vocabulary's mix of scripts, built with `tokenizers`, held 312 MiB. The server holds two copies.
XLMR_TOKENIZER_BYTES = 320 * MIB
# gte-reranker-modernbert-base's (OLMo's 50,280-piece byte-level BPE with its merges): XLM-R's
# bytes per piece, rounded up (an estimate, not measured).
MODERNBERT_TOKENIZER_BYTES = 80 * MIB
# The benchmark's shape of each component's model, and one copy of its tokenizer where the shape's
# small trained one stands in for a larger one.
COMPONENT_SHAPES = {
    "bge-reranker-base": ("bge-reranker-base", XLMR_TOKENIZER_BYTES),
    "gte-reranker-modernbert-base": ("gte-reranker-modernbert-base", MODERNBERT_TOKENIZER_BYTES),
}
# Encoders whose batches the torch engine packs (reranker.engine.packing); the others run padded.
PACKED_MODEL_TYPES = {"bert", "roberta", "xlm-roberta"}
CPU_CORES = 2  # the cpu overlay's CPU limit: two model workers


def test_settings_here_should_be_the_servers_defaults():
    """The bound's limits default to the server's settings."""
    defaults, limits = Settings(), ServerLimits()
    for name in (
        "max_documents",
        "max_body_bytes",
        "max_request_tokens",
        "max_concurrent_body_bytes",
        "max_queued_pairs",
        "max_concurrent_requests",
        "prefix_reuse",
    ):
        assert getattr(limits, name) == getattr(defaults, name), name


def _rendered_settings(overlay: str, component: str) -> Settings:
    """The settings the server gets from ``component`` on ``overlay`` (the rendered args, parsed
    by the server)."""
    from bundlecheck.render import render_combination
    from reranker.cli import settings_from

    root = REPO_ROOT
    objects = render_combination(f"{root}/overlays/{overlay}+{root}/components/models/{component}").objects
    (isvc,) = [o for o in objects if o.get("kind") == "InferenceService"]
    model = isvc["spec"]["predictor"]["model"]
    env = {e["name"]: str(e.get("value", "")) for e in model.get("env") or [] if "value" in e}
    return settings_from([str(a) for a in model.get("args") or []], environ=env)


@pytest.mark.slow  # builds a model in a real shape
@pytest.mark.parametrize("component", sorted(components_claiming("cpu")))
def test_components_claiming_the_cpu_overlay_should_fit_its_memory_limit(component):
    """Each model component that claims the cpu overlay, with the settings it and the overlay give
    the server (float32 where the CPU has no native bfloat16, two model workers on the pod's two
    cores, the component's length), is bounded within the pod's memory limit."""
    if component not in COMPONENT_SHAPES:
        pytest.skip(f"no model shape for {component} in benchmarks/model_shapes.py")
    shape_name, tokenizer_bytes = COMPONENT_SHAPES[component]
    annotations = components_claiming("cpu")[component]
    model_dir = model_shapes.cross_encoder(shape_name)
    config = json.loads((model_dir / "config.json").read_text())
    settings = _rendered_settings("cpu", component)
    packed = config["model_type"] in PACKED_MODEL_TYPES
    budget = settings.max_batch_tokens or (8192 if packed else 2048)  # the torch engine's CPU defaults
    shape = ModelShape.from_config(
        config,
        model_shapes.parameters(model_dir),
        int(annotations["kserve-reranker.example.com/max-model-len"]),
        tokenizer_bytes=tokenizer_bytes,
    )
    bound = memory_bound(shape, ServerLimits.of(settings, budget, settings.model_workers or CPU_CORES))
    limit = overlay_memory_limit("cpu")
    print(f"\n{component} on the cpu overlay ({limit / GIB:.0f} GiB): {bound.describe()}")
    assert bound.total <= limit, f"{component}: {bound.describe()} over the cpu overlay's {limit / GIB:.1f} GiB"


def _shape(max_model_len: int = 512) -> ModelShape:
    return ModelShape(parameters=1000, hidden_size=8, intermediate_size=32, max_model_len=max_model_len)


def test_bodies_held_should_follow_the_concurrent_body_limit_and_never_less_than_one_body():
    """Bodies held: --max_concurrent_body_bytes of them, or one body of --max_body_bytes when
    that is larger (a request alone is always let in)."""
    three = memory_bound(_shape(), ServerLimits(max_concurrent_body_bytes=48 * MIB))
    one = memory_bound(_shape(), ServerLimits(max_concurrent_body_bytes=16 * MIB))
    below = memory_bound(_shape(), ServerLimits(max_concurrent_body_bytes=1 * MIB))
    assert three.bodies == 3 * one.bodies
    assert below.bodies == one.bodies
    assert three.total - one.total == three.bodies - one.bodies


def test_tokens_queued_should_be_bounded_by_pairs_of_the_models_length_unless_chunking():
    """Queued ids: at most --max_queued_pairs pairs of the model's limit, and at most
    --max_request_tokens a request; chunked windows are not counted as pairs."""
    limits = ServerLimits(max_queued_pairs=1000, max_concurrent_requests=8, max_request_tokens=100_000)
    assert memory_bound(_shape(512), limits).queued == 5 * 1000 * 512
    assert memory_bound(_shape(512), ServerLimits(max_queued_pairs=1000, max_concurrent_requests=2)).queued == (
        5 * min(1000 * 512, 2 * 524288)
    )
    chunked = ServerLimits(max_queued_pairs=1000, max_concurrent_requests=8, max_request_tokens=100_000, chunking=True)
    assert memory_bound(_shape(512), chunked).queued == 5 * 8 * 100_000


def test_one_request_should_be_read_at_a_time():
    """Tokens read: one request's (requests are tokenized one at a time), chunking reading on."""
    plain = memory_bound(_shape(512), ServerLimits(max_documents=1000))
    chunked = memory_bound(_shape(512), ServerLimits(max_documents=1000, chunking=True))
    assert plain.reading == 40 * 1000 * 513
    assert chunked.reading == plain.reading + 40 * 524288
