"""Linear layers run from weights reordered once for oneDNN (--prepacked_weights, CPU): the same
scores as torch's own linear layers, no extra memory, and the model left as it was wherever the
reordered weights would not compute the same."""

from __future__ import annotations

import pytest
import torch

from reranker.engine.base import ScoreOptions
from reranker.engine.prepacked_linear import is_prepacked, prepack_linear_layers, prepack_supported
from tests.serving.test_packing import FAMILY_FLAGS, models, varied_pairs  # noqa: F401 (models: a fixture)
from tests.support.app import run_with_engine

pytestmark = pytest.mark.skipif(not prepack_supported(torch.float32), reason="this torch has no oneDNN")


def score(model_dir, pairs, **settings):
    async def scenario(engine):
        result = await engine.score(pairs, ScoreOptions(use_activation=False))
        return result.scores, engine._prepacked

    return run_with_engine(model_dir, scenario, **settings)


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "qwen3-causal", "qwen3-seq-cls", "modernbert"])
@pytest.mark.parametrize("packed_batches", ["on", "off"])
def test_should_score_as_torch_linear_layers_do(models, family, packed_batches):
    pairs, flags = varied_pairs(), FAMILY_FLAGS.get(family, {})
    plain, plain_layers = score(models[family], pairs, prepacked_weights="off", packed_batches=packed_batches, **flags)
    prepacked, layers = score(models[family], pairs, packed_batches=packed_batches, **flags)

    assert plain_layers == 0
    assert layers > 0
    assert prepacked == pytest.approx(plain, abs=1e-5)


def test_should_score_bfloat16_as_torch_linear_layers_do(models):
    if not prepack_supported(torch.bfloat16):
        pytest.skip("this CPU's oneDNN has no bfloat16 linear layers")
    pairs = varied_pairs()
    plain, _ = score(models["bert"], pairs, prepacked_weights="off", dtype="bfloat16")
    prepacked, layers = score(models["bert"], pairs, dtype="bfloat16")

    assert layers > 0
    # bfloat16 keeps 8 bits of mantissa: both sums are rounded at that resolution.
    assert prepacked == pytest.approx(plain, abs=0.02)


def tiny_transformer(models):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(models["bert"]).eval()
    ids = torch.arange(1, 17).unsqueeze(0)
    return model.base_model, lambda: model.base_model(input_ids=ids).last_hidden_state


def linear_layers(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def test_should_keep_the_memory_of_the_plain_weights(models):
    transformer, forward = tiny_transformer(models)
    before = [layer.weight.detach().clone() for layer in linear_layers(transformer)]

    assert prepack_linear_layers(transformer, forward) == len(before)
    for layer, weight in zip(linear_layers(transformer), before):
        assert is_prepacked(layer)
        # The reordered copy holds the values; the plain weight keeps its dtype and device only.
        assert layer.weight.numel() == 0
        assert (layer.weight.dtype, layer.weight.device) == (weight.dtype, weight.device)


def test_should_apply_the_activation_inside_the_layer_that_feeds_it(models):
    """BERT's intermediate GELU and a gated MLP's SiLU run as oneDNN post-ops of their layer."""
    from transformers import AutoModelForCausalLM

    transformer, forward = tiny_transformer(models)
    expected = forward()
    assert prepack_linear_layers(transformer, forward) > 0
    for layer in transformer.encoder.layer:
        assert isinstance(layer.intermediate.intermediate_act_fn, torch.nn.Identity)
    assert torch.allclose(forward(), expected, atol=1e-5)

    decoder = AutoModelForCausalLM.from_pretrained(models["qwen3-causal"]).eval().base_model
    ids = torch.arange(1, 17).unsqueeze(0)
    decoder_forward = lambda: decoder(input_ids=ids, use_cache=False).last_hidden_state  # noqa: E731
    expected = decoder_forward()
    assert prepack_linear_layers(decoder, decoder_forward) > 0
    for layer in decoder.layers:
        assert isinstance(layer.mlp.act_fn, torch.nn.Identity)
    assert torch.allclose(decoder_forward(), expected, atol=1e-5)


@pytest.mark.parametrize(
    "name, post_op",
    [
        ("gelu", ("gelu", "none")),
        ("gelu_new", ("gelu", "tanh")),
        ("gelu_pytorch_tanh", ("gelu", "tanh")),
        ("silu", ("swish", "")),
        ("swish", ("swish", "")),
        ("relu", ("relu", "")),
        ("gelu_python", None),  # computed in Python: left as it is
        ("quick_gelu", None),
        ("tanh", None),
    ],
)
def test_should_fuse_only_activations_onednn_computes(name, post_op):
    from transformers.activations import ACT2FN

    from reranker.engine.prepacked_linear import _post_op

    assert _post_op(ACT2FN[name]) == post_op


def test_should_restore_the_model_when_its_output_changes(models):
    transformer, forward = tiny_transformer(models)
    activations = [layer.intermediate.intermediate_act_fn for layer in transformer.encoder.layer]
    before = [layer.weight.detach().clone() for layer in linear_layers(transformer)]
    expected = forward()
    calls = []

    def drifting_forward():  # what a kernel computing something else would show the guard
        calls.append(1)
        return forward() + (len(calls) - 1)

    assert prepack_linear_layers(transformer, drifting_forward) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(transformer))
    assert [layer.intermediate.intermediate_act_fn for layer in transformer.encoder.layer] == activations
    for layer, weight in zip(linear_layers(transformer), before):
        assert torch.equal(layer.weight, weight)
    assert torch.equal(forward(), expected)


def test_should_restore_the_model_when_the_reordered_weights_fail(models):
    transformer, forward = tiny_transformer(models)
    expected = forward()
    calls = []

    def failing_forward():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("oneDNN: unsupported")
        return forward()

    assert prepack_linear_layers(transformer, failing_forward) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(transformer))
    assert torch.equal(forward(), expected)


def test_should_leave_model_code_from_outside_transformers_alone(models):
    from transformers import AutoModelForSequenceClassification

    from reranker.engine.torch_engine import _prepack

    model = AutoModelForSequenceClassification.from_pretrained(models["bert"]).eval()
    base = model.base_model
    base.__class__ = type("BertModel", (type(base),), {"__module__": "transformers_modules.acme.model"})

    assert _prepack(model) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(model))


def test_should_prepack_nothing_in_a_precision_onednn_lacks(models):
    transformer, forward = tiny_transformer(models)
    transformer.to(torch.float16)
    ids = torch.arange(1, 17).unsqueeze(0)
    layers = prepack_linear_layers(transformer, lambda: transformer(input_ids=ids).last_hidden_state)

    assert (layers > 0) == prepack_supported(torch.float16)


def test_should_serve_an_embedding_model_from_reordered_weights(minilm_dir):
    pairs = [("capital of france", "Paris is the capital of France."), ("capital of france", "Bananas are yellow.")]
    plain, _ = score(minilm_dir, pairs, prepacked_weights="off")
    prepacked, layers = score(minilm_dir, pairs)

    assert layers > 0
    assert prepacked == pytest.approx(plain, abs=1e-5)


@pytest.mark.parametrize("packed_batches", ["on", "off"])
def test_should_score_the_same_on_two_model_workers_as_on_one(models, packed_batches):
    """Concurrent requests whose batches run at once on two workers get their own scores."""
    import asyncio

    requests = [varied_pairs(10, seed=seed) for seed in range(4)]

    async def together(engine):
        results = await asyncio.gather(*(engine.score(pairs, ScoreOptions(use_activation=False)) for pairs in requests))
        return [r.scores for r in results], engine._workers

    flags = {"packed_batches": packed_batches, "max_batch_tokens": 256}
    one, one_workers = run_with_engine(models["bert"], together, model_workers=1, **flags)
    two, two_workers = run_with_engine(models["bert"], together, model_workers=2, **flags)

    assert (one_workers, two_workers) == (1, 2)
    for got, expected in zip(two, one):
        assert got == pytest.approx(expected, abs=1e-5)
