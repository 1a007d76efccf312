"""Linear layers run from weights reordered once for oneDNN (--prepacked_weights, CPU): the same
scores as torch's own linear layers, no extra memory, and the model left as it was wherever the
reordered weights would not compute the same: in any layer, pooler included, at any row count up
to the batch budget, or at a model worker's thread count."""

from __future__ import annotations

import logging
import threading

import pytest
import torch

from reranker.engine.base import ScoreOptions
from reranker.engine.prepacked_linear import (
    is_prepacked,
    prepack_linear_layers,
    prepack_supported,
    prepack_transformer,
)
from tests.serving.engine.test_packing import FAMILY_FLAGS, varied_pairs
from tests.support.app import run_with_engine

pytestmark = pytest.mark.skipif(not prepack_supported(torch.float32), reason="this torch has no oneDNN")

# What the engine passes on 2 CPUs: padded batches' budget, two model workers of one thread each.
BUDGET, WORKERS = 2048, [1, 1]


def score(model_dir, pairs, **settings):
    async def scenario(engine):
        result = await engine.score(pairs, ScoreOptions(use_activation=False))
        return result.scores, engine._prepacked

    return run_with_engine(model_dir, scenario, **settings)


@pytest.mark.parametrize("family", ["bert", "xlm-roberta", "qwen3-causal", "qwen3-seq-cls", "modernbert"])
@pytest.mark.parametrize("packed_batches", ["on", "off"])
def test_should_score_as_torch_linear_layers_do(family_models, family, packed_batches):
    pairs, flags = varied_pairs(), FAMILY_FLAGS.get(family, {})
    plain, plain_layers = score(
        family_models[family], pairs, prepacked_weights="off", packed_batches=packed_batches, **flags
    )
    prepacked, layers = score(family_models[family], pairs, packed_batches=packed_batches, **flags)

    assert plain_layers == 0
    assert layers > 0
    assert prepacked == pytest.approx(plain, abs=1e-5)


def test_should_score_bfloat16_as_torch_linear_layers_do(family_models):
    if not prepack_supported(torch.bfloat16):
        pytest.skip("this CPU's oneDNN has no bfloat16 linear layers")
    pairs = varied_pairs()
    plain, _ = score(family_models["bert"], pairs, prepacked_weights="off", dtype="bfloat16")
    prepacked, layers = score(family_models["bert"], pairs, dtype="bfloat16")

    assert layers > 0
    # bfloat16 keeps 8 bits of mantissa: both sums are rounded at that resolution.
    assert prepacked == pytest.approx(plain, abs=0.02)


def tiny_transformer(family_models):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(family_models["bert"]).eval()
    ids = torch.arange(1, 17).unsqueeze(0)
    return model.base_model, lambda: model.base_model(input_ids=ids).last_hidden_state


def prepack(transformer, forward, batch_tokens=BUDGET, thread_counts=WORKERS):
    return prepack_linear_layers(transformer, forward, batch_tokens, thread_counts)


def linear_layers(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def test_should_keep_the_memory_of_the_plain_weights(family_models):
    transformer, forward = tiny_transformer(family_models)
    before = [layer.weight.detach().clone() for layer in linear_layers(transformer)]

    assert prepack(transformer, forward) == len(before)
    for layer, weight in zip(linear_layers(transformer), before):
        assert is_prepacked(layer)
        # The reordered copy holds the values; the plain weight keeps its dtype and device only.
        assert layer.weight.numel() == 0
        assert (layer.weight.dtype, layer.weight.device) == (weight.dtype, weight.device)


def test_should_apply_the_activation_inside_the_layer_that_feeds_it(family_models):
    """BERT's intermediate GELU and a gated MLP's SiLU run as oneDNN post-ops of their layer."""
    from transformers import AutoModelForCausalLM

    transformer, forward = tiny_transformer(family_models)
    expected = forward()
    assert prepack(transformer, forward) > 0
    for layer in transformer.encoder.layer:
        assert isinstance(layer.intermediate.intermediate_act_fn, torch.nn.Identity)
    assert torch.allclose(forward(), expected, atol=1e-5)

    decoder = AutoModelForCausalLM.from_pretrained(family_models["qwen3-causal"]).eval().base_model
    ids = torch.arange(1, 17).unsqueeze(0)
    decoder_forward = lambda: decoder(input_ids=ids, use_cache=False).last_hidden_state  # noqa: E731
    expected = decoder_forward()
    assert prepack(decoder, decoder_forward) > 0
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


def test_should_restore_the_model_when_its_output_changes(family_models):
    transformer, forward = tiny_transformer(family_models)
    activations = [layer.intermediate.intermediate_act_fn for layer in transformer.encoder.layer]
    before = [layer.weight.detach().clone() for layer in linear_layers(transformer)]
    expected = forward()
    calls = []

    def drifting_forward():  # what a kernel computing something else would show the guard
        calls.append(1)
        return forward() + (len(calls) - 1)

    assert prepack(transformer, drifting_forward) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(transformer))
    assert [layer.intermediate.intermediate_act_fn for layer in transformer.encoder.layer] == activations
    for layer, weight in zip(linear_layers(transformer), before):
        assert torch.equal(layer.weight, weight)
    assert torch.equal(forward(), expected)


def test_should_restore_the_model_when_the_reordered_weights_fail(family_models):
    transformer, forward = tiny_transformer(family_models)
    expected = forward()
    calls = []

    def failing_forward():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("oneDNN: unsupported")
        return forward()

    assert prepack(transformer, failing_forward) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(transformer))
    assert torch.equal(forward(), expected)


def test_should_leave_model_code_from_outside_transformers_alone(family_models):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(family_models["bert"]).eval()
    base = model.base_model
    base.__class__ = type("BertModel", (type(base),), {"__module__": "transformers_modules.acme.model"})

    assert prepack_transformer(model.base_model, BUDGET, WORKERS) == 0
    assert not any(is_prepacked(layer) for layer in linear_layers(model))


def test_should_prepack_nothing_in_a_precision_onednn_lacks(family_models):
    transformer, forward = tiny_transformer(family_models)
    transformer.to(torch.float16)
    ids = torch.arange(1, 17).unsqueeze(0)
    layers = prepack(transformer, lambda: transformer(input_ids=ids).last_hidden_state)

    assert (layers > 0) == prepack_supported(torch.float16)


def test_should_serve_an_embedding_model_from_reordered_weights(minilm_dir):
    pairs = [("capital of france", "Paris is the capital of France."), ("capital of france", "Bananas are yellow.")]
    plain, _ = score(minilm_dir, pairs, prepacked_weights="off")
    prepacked, layers = score(minilm_dir, pairs)

    assert layers > 0
    assert prepacked == pytest.approx(plain, abs=1e-5)


@pytest.mark.parametrize("packed_batches", ["on", "off"])
def test_should_score_the_same_on_two_model_workers_as_on_one(family_models, packed_batches):
    """Concurrent requests whose batches run at once on two workers get their own scores."""
    import asyncio

    requests = [varied_pairs(10, seed=seed) for seed in range(4)]

    async def together(engine):
        results = await asyncio.gather(*(engine.score(pairs, ScoreOptions(use_activation=False)) for pairs in requests))
        return [r.scores for r in results], engine._workers

    flags = {"packed_batches": packed_batches, "max_batch_tokens": 256}
    one, one_workers = run_with_engine(family_models["bert"], together, model_workers=1, **flags)
    two, two_workers = run_with_engine(family_models["bert"], together, model_workers=2, **flags)

    assert (one_workers, two_workers) == (1, 2)
    for got, expected in zip(two, one):
        assert got == pytest.approx(expected, abs=1e-5)


# --- the guard: each layer against torch's, at the rows and threads that serving runs ---------------


@pytest.fixture
def two_loader_threads():
    """The loading thread on 2 torch threads, whatever the machine: a check run there, not at the
    workers' count of 1, would miss what goes wrong on 1 thread only."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def corrupt_kernel(monkeypatch, wrong_here):
    """oneDNN's reordered linear kernel, off by 1 wherever ``wrong_here(rows, bias)`` says."""
    real = torch.ops.mkldnn._linear_pointwise

    def kernel(rows, weight, bias, *post_op):
        out = real(rows, weight, bias, *post_op)
        return out + 1 if wrong_here(rows, bias) else out

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", kernel)


def assert_restored(transformer, forward, expected, caplog, *named):
    assert not any(is_prepacked(layer) for layer in linear_layers(transformer))
    assert torch.equal(forward(), expected)
    warning = next(r.getMessage() for r in caplog.records if "oneDNN-reordered" in r.getMessage())
    for words in named:
        assert words in warning, warning


def test_should_restore_the_model_when_a_layer_is_wrong_only_at_many_rows(family_models, monkeypatch, caplog):
    transformer, forward = tiny_transformer(family_models)
    expected = forward()
    corrupt_kernel(monkeypatch, lambda rows, bias: len(rows) > 1000)

    with caplog.at_level(logging.WARNING):
        assert prepack(transformer, forward, batch_tokens=BUDGET) == 0
    assert_restored(transformer, forward, expected, caplog, "at 1025 rows", "on 1 torch threads")


def test_should_restore_the_model_when_a_layer_is_wrong_only_on_a_worker_s_threads(
    family_models, monkeypatch, caplog, two_loader_threads
):
    transformer, forward = tiny_transformer(family_models)
    expected = forward()
    corrupt_kernel(monkeypatch, lambda rows, bias: torch.get_num_threads() == 1)

    with caplog.at_level(logging.WARNING):
        assert prepack(transformer, forward, thread_counts=[1, 1]) == 0
    assert_restored(transformer, forward, expected, caplog, "on 1 torch threads")
    # The checks' threads set the process-wide count too, which a new thread starts from: put back.
    threads_of_a_new_thread = []
    thread = threading.Thread(target=lambda: threads_of_a_new_thread.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert (torch.get_num_threads(), threads_of_a_new_thread) == (2, [2])


def test_should_check_each_worker_s_thread_count(family_models, monkeypatch, caplog, two_loader_threads):
    """Three threads, two workers: one of 2 threads, one of 1; what is wrong on 1 thread shows."""
    transformer, forward = tiny_transformer(family_models)
    corrupt_kernel(monkeypatch, lambda rows, bias: torch.get_num_threads() == 1)

    assert prepack(transformer, forward, thread_counts=[2]) > 0
    transformer, forward = tiny_transformer(family_models)
    with caplog.at_level(logging.WARNING):
        assert prepack(transformer, forward, thread_counts=[2, 1]) == 0
    assert "on 1 torch threads" in caplog.text


def test_should_restore_the_model_when_the_pooler_is_wrong(family_models, monkeypatch, caplog):
    """BERT's pooler is reordered with the rest; the last hidden state, which the forward pass
    compares, never goes through it."""
    transformer, forward = tiny_transformer(family_models)
    expected = forward()
    pooler_bias = transformer.pooler.dense.bias.data_ptr()
    corrupt_kernel(monkeypatch, lambda rows, bias: bias is not None and bias.data_ptr() == pooler_bias)

    with caplog.at_level(logging.WARNING):
        assert prepack(transformer, forward) == 0
    assert_restored(transformer, forward, expected, caplog, "layer pooler.dense at 1 rows")


@pytest.mark.parametrize(
    "family, heads",
    [
        ("bert", ["classifier"]),
        ("xlm-roberta", ["classifier.dense", "classifier.out_proj"]),
        ("qwen3-seq-cls", ["score"]),
    ],
)
def test_should_reorder_the_transformer_and_leave_the_heads_to_torch(family_models, family, heads):
    """Every linear layer of the transformer (BERT's pooler too) passes the check with the real
    kernels; the heads past it run on one row per pair and stay as they are."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(family_models[family]).eval()
    inside = linear_layers(model.base_model)

    assert prepack_transformer(model.base_model, 8192, [2, 1]) == len(inside)
    assert all(is_prepacked(layer) for layer in inside)
    assert not any(is_prepacked(model.get_submodule(name)) for name in heads)
    if family == "bert":
        assert is_prepacked(model.bert.pooler.dense)


def test_should_leave_the_lm_head_of_a_causal_reranker_to_torch(family_models):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(family_models["qwen3-causal"]).eval()

    assert prepack_transformer(model.base_model, 8192, [1, 1]) == len(linear_layers(model.base_model))
    assert not is_prepacked(model.lm_head)


@pytest.mark.parametrize(
    "wrong_here, settings",
    [
        (lambda rows, bias: len(rows) > 1000, {"max_batch_tokens": 1100}),  # the engine's budget is checked
        (lambda rows, bias: torch.get_num_threads() == 1, {"model_workers": 2}),  # so are its workers' threads
    ],
    ids=["past-1000-rows", "on-1-thread"],
)
def test_should_serve_from_torch_s_layers_where_the_guard_fails(
    family_models, monkeypatch, two_loader_threads, wrong_here, settings
):
    pairs = varied_pairs()
    plain, _ = score(family_models["bert"], pairs, prepacked_weights="off")
    corrupt_kernel(monkeypatch, wrong_here)
    got, layers = score(family_models["bert"], pairs, **settings)

    assert layers == 0
    assert got == pytest.approx(plain, abs=1e-5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_should_hold_a_reduced_precision_layer_to_the_precision_tests_bound(dtype):
    """The check itself, where this CPU's oneDNN may have no such layers: a stand-in for a reordered
    layer that computes in float32 and rounds once after its GELU, as oneDNN's post-op does, passes
    against torch's layer and GELU rounded apart; one that reads its weight's rows one place off,
    as a reorder into the wrong layout would, fails."""
    from reranker.engine.prepacked_linear import _LayerCheck

    torch.manual_seed(0)
    layer = torch.nn.Linear(256, 512).to(dtype)
    weight, bias = layer.weight.detach(), layer.bias.detach()
    gelu = torch.nn.GELU()

    def check(reordered_weight):
        layer.forward = lambda x: gelu(
            torch.nn.functional.linear(x.float(), reordered_weight.float(), bias.float())
        ).to(dtype)
        rows = torch.randn(129, 256).to(dtype)
        return _LayerCheck("intermediate.dense", layer, weight, gelu, rows, (1, 17, 129, 1025)).run(threads=1)

    assert check(weight) is None
    assert "layer intermediate.dense at 1 rows on 1 torch threads" in check(weight.roll(1, dims=0))


def test_should_hold_a_float32_layer_to_rounding_and_no_more():
    """Sums in another order pass (a stand-in adding in float64, rounded once); weights quietly
    rounded to tf32's 10 bits of mantissa, as a down-converting kernel would use them, fail."""
    from reranker.engine.prepacked_linear import _LayerCheck

    torch.manual_seed(0)
    layer = torch.nn.Linear(3072, 768)
    weight, bias = layer.weight.detach(), layer.bias.detach()

    def check(reordered_weight):
        layer.forward = lambda x: torch.nn.functional.linear(
            x.double(), reordered_weight.double(), bias.double()
        ).float()
        rows = torch.randn(129, 3072)
        return _LayerCheck("output.dense", layer, weight, None, rows, (1, 17, 129, 1025)).run(threads=1)

    tf32 = (weight.view(torch.int32) & ~0x1FFF).view(torch.float32)
    assert check(weight) is None
    assert "layer output.dense at 1 rows" in check(tf32)
