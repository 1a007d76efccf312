"""policies/models.py: a model component on an overlay it claims, with the length and family it
sets; the overlay a pod runs on read from the bundle's overlays/."""

from __future__ import annotations

from typing import Any

import pytest

from bundlecheck.policies import POLICIES, Context
from bundlecheck.render import render_combination
from tests.tools.bundlecheck.policies.bundle_objects import REPO, the


def model_on(overlay: str, model: str) -> list[dict[str, Any]]:
    return render_combination(f"{REPO / 'overlays' / overlay}+{REPO / 'components/models' / model}").objects


def model_fit(objects: list[dict[str, Any]]) -> list[str]:
    return [f.message for f in POLICIES["model-fit"].check(Context(objects, bundle_root=REPO))]


def annotations(objects: list[dict[str, Any]]) -> dict[str, str]:
    return the(objects, "InferenceService")["metadata"]["annotations"]


def model_args(objects: list[dict[str, Any]]) -> list[str]:
    return the(objects, "InferenceService")["spec"]["predictor"]["model"]["args"]


def test_model_fit_passes_a_model_on_its_claimed_overlay_and_ignores_plain_overlays(cpu_objects) -> None:
    assert model_fit(model_on("l4", "qwen3-reranker-0.6b")) == []
    assert model_fit(cpu_objects) == []  # no model component: nothing claimed


def test_model_fit_refuses_a_length_beyond_the_models_limit() -> None:
    objects = model_on("h100", "bge-reranker-base")
    model_args(objects).append("--max_model_len=8192")
    annotations(objects)["kserve-reranker.example.com/max-model-len"] = "8192"  # on purpose
    assert model_fit(objects) == ["--max_model_len=8192 exceeds bge-reranker-base's limit of 512 tokens"]


def test_model_fit_refuses_a_vllm_step_smaller_than_one_full_length_pair() -> None:
    objects = model_on("t4", "bge-reranker-v2-m3")
    model_args(objects).append("--max_num_batched_tokens=4096")
    (message,) = model_fit(objects)
    assert message.startswith("--max_num_batched_tokens=4096 is below --max_model_len=8192")
    model_args(objects).append("--backend=torch")  # the torch engine has no such step
    assert model_fit(objects) == []


def test_model_fit_needs_the_family_flag_the_server_cannot_detect() -> None:
    objects = model_on("a100", "qwen3-reranker-4b")
    model_args(objects).append("--model_family=auto")
    assert model_fit(objects) == ["qwen3-reranker-4b is a qwen3-reranker model; the server gets --model_family=auto"]


def test_model_fit_accepts_auto_for_a_family_the_server_detects() -> None:
    objects = model_on("l4", "gte-reranker-modernbert-base")
    annotations(objects)["kserve-reranker.example.com/model-family"] = "cross-encoder"
    assert model_fit(objects) == []
    model_args(objects).append("--model_family=embedding")
    assert model_fit(objects) == [
        "gte-reranker-modernbert-base is a cross-encoder model; the server gets --model_family=embedding"
    ]


@pytest.mark.parametrize(
    ("product", "expected"),
    [
        ("NVIDIA-H100-NVL", []),  # another variant of a card counts as its overlay's class
        ("NVIDIA-A100-SXM4-80GB", ["qwen3-reranker-8b fits h100; this render runs it on a100"]),
        ("Tesla-T4", ["qwen3-reranker-8b fits h100; this render runs it on t4"]),
        ("NVIDIA-B200", []),  # a card no overlay is sized for: nothing to say
    ],
)
def test_model_fit_reads_the_gpu_class_from_the_product_the_pod_selects(product, expected) -> None:
    objects = model_on("h100", "qwen3-reranker-8b")
    annotations(objects)["kserve-reranker.example.com/fits-overlays"] = "h100"
    the(objects, "InferenceService")["spec"]["predictor"]["nodeSelector"]["nvidia.com/gpu.product"] = product
    assert model_fit(objects) == expected


def test_model_fit_reports_a_component_that_claims_no_overlay() -> None:
    objects = model_on("cpu", "bge-reranker-base")
    annotations(objects)["kserve-reranker.example.com/fits-overlays"] = ""
    assert model_fit(objects) == ["model component bge-reranker-base claims no overlay it fits"]


def test_model_fit_names_the_overlay_only_where_it_knows_the_bundles_overlays() -> None:
    objects = model_on("cpu", "qwen3-reranker-8b")
    expected = ["qwen3-reranker-8b fits a100, h100; this render runs it on cpu"]
    assert model_fit(objects) == expected
    assert [f.message for f in POLICIES["model-fit"].check(Context(objects))] == []
