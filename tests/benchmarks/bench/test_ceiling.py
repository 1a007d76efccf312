"""The hardware's limit for a workload (benchmarks/bench/ceiling.py): model FLOPs per pair from a
config, counted by hand for known shapes, the shared prefix counted once, the peak measured."""

from __future__ import annotations

import pytest

from benchmarks import model_shapes
from benchmarks.bench.ceiling import ModelFlops, matmul_peak, pair_flops, workload_pair_flops
from benchmarks.bench.report import add_ceilings
from harness.request_bodies import distinct_rerank_body

MINILM = {
    "model_type": "bert",
    "architectures": ["BertForSequenceClassification"],
    "hidden_size": 384,
    "num_attention_heads": 12,
    "num_hidden_layers": 6,
    "intermediate_size": 1536,
    "hidden_act": "gelu",
}
QWEN3_06B = {
    "model_type": "qwen3",
    "architectures": ["Qwen3ForCausalLM"],
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "num_hidden_layers": 28,
    "intermediate_size": 3072,
    "hidden_act": "silu",
}


def test_should_count_an_encoders_linear_weights_and_full_attention():
    model = ModelFlops.from_config(MINILM)
    # q, k, v, o: 4 x 384^2; the MLP: 2 x 384 x 1536
    assert model.linear_weights == 4 * 384 * 384 + 2 * 384 * 1536
    assert not model.causal
    tokens = 37
    expected = 6 * (2 * model.linear_weights * tokens + 4 * 384 * tokens * tokens)
    assert model.tokens(tokens) == expected
    # 37 tokens at the 2-core EPYC's 138 GFLOP/s: about 174 docs/s, as measured there
    assert 170 < 138e9 / expected < 178


def test_should_count_grouped_query_projections_a_gated_mlp_and_half_of_causal_attention():
    model = ModelFlops.from_config(QWEN3_06B)
    q_and_o = 2 * 1024 * 16 * 128
    k_and_v = 2 * 1024 * 8 * 128
    assert model.linear_weights == q_and_o + k_and_v + 3 * 1024 * 3072
    assert model.causal
    assert model.tokens(100) == 28 * (2 * model.linear_weights * 100 + 4 * 2048 * 100 * 100 / 2)


def test_should_count_a_shared_prefix_once_per_request_and_its_keys_for_every_pair():
    model = ModelFlops.from_config(QWEN3_06B)
    prefix, own = 500, [20, 30, 40]
    per_pair = pair_flops(model, [prefix + n for n in own], prefix)
    expected = (model.tokens(prefix) + sum(model.tokens(n, prefix) for n in own)) / 3
    assert per_pair == pytest.approx(expected)
    without_reuse = pair_flops(model, [prefix + n for n in own])
    assert per_pair < without_reuse / 2  # three pairs share what each would compute alone


def test_should_measure_a_positive_peak_in_float32():
    assert matmul_peak("float32") > 1e9


def test_should_tokenize_a_workload_as_the_server_does():
    model_dir = model_shapes.cross_encoder("tiny")
    body = distinct_rerank_body(4, 10, 0)
    flops = workload_pair_flops(model_dir, [body], llm=False)
    config = ModelFlops.from_config({**MINILM, **model_shapes.SHAPES["tiny"][1]})
    # [CLS] query [SEP] document [SEP]: each word one token
    tokens = [len(body["query"].split()) + len(d.split()) + 3 for d in body["documents"]]
    assert flops == pytest.approx(sum(config.tokens(n) for n in tokens) / len(tokens))


def test_should_add_each_rows_ceiling_and_share():
    rows = [
        {"workload": "varied", "dtype": "float32", "docs_per_s": 42.0},
        {"workload": "seed", "dtype": "float32", "docs_per_s": None},
        {"workload": "llm", "dtype": "bfloat16", "docs_per_s": 3.0},
    ]
    add_ceilings(rows, {("varied", "float32"): 70.0, ("seed", "float32"): 100.0})
    assert (rows[0]["ceiling_docs_per_s"], rows[0]["share_of_ceiling"]) == (70.0, 0.6)
    assert (rows[1]["ceiling_docs_per_s"], rows[1]["share_of_ceiling"]) == (100.0, None)
    assert (rows[2]["ceiling_docs_per_s"], rows[2]["share_of_ceiling"]) == (None, None)
