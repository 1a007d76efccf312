"""Policy details the broken overlays do not reach: alternative spellings and KServe's merging."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from bundlecheck.check import find_components_dir
from bundlecheck.policies import POLICIES, Context
from bundlecheck.policies.images import is_pinned
from bundlecheck.policies.secrets import component_secret_names
from bundlecheck.render import render

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cpu_objects() -> list[dict[str, Any]]:
    return render(REPO / "overlays/cpu").objects


def findings(
    policy_id: str, objects: list[dict[str, Any]], **context: Any
) -> list[tuple[str, str]]:
    return [(f.obj, f.path) for f in POLICIES[policy_id].check(Context(objects, **context))]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind)


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/example/kserve-reranker:0.1.0-cpu", True),
        ("kserve/storage-initializer@sha256:" + "a" * 64, True),
        ("registry.local:5000/reranker", False),  # a registry port is not a tag
        ("kserve/storage-initializer:latest", False),
        ("kserve/storage-initializer", False),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert is_pinned(image) is pinned


def test_components_provide_the_token_secret() -> None:
    assert "hf-secret" in component_secret_names(REPO / "components")


def test_should_find_the_bundles_components_above_a_kustomization() -> None:
    broken_case = REPO / "tests/manifests/broken/no-secret-data"
    assert find_components_dir(broken_case) == REPO / "components"
    assert find_components_dir(REPO / "overlays/cpu") == REPO / "components"


def test_secret_ref_fails_when_no_component_provides_it(cpu_objects: list[dict[str, Any]]) -> None:
    assert findings("secret-ref-resolves", cpu_objects, component_secrets={"hf-secret"}) == []
    assert findings("secret-ref-resolves", cpu_objects, component_secrets=set()) == [
        ("ClusterStorageContainer/hf-hub", "spec.container.env[0].valueFrom.secretKeyRef.name")
    ]


def test_secret_ref_to_a_generated_name_that_was_not_rewritten(cpu_objects) -> None:
    objects = [
        *cpu_objects,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-secret-5t9m8k2hbd"}},
    ]
    (finding,) = POLICIES["secret-ref-resolves"].check(Context(objects, {"hf-secret"}))
    assert "generates 'hf-secret-5t9m8k2hbd'" in finding.message


def test_gpu_product_in_required_node_affinity_counts_as_selector() -> None:
    a100 = render(REPO / "overlays/a100").objects
    predictor = the(a100, "InferenceService")["spec"]["predictor"]
    product = predictor.pop("nodeSelector")["nvidia.com/gpu.product"]
    assert findings("gpu-placement", a100) == [
        ("InferenceService/reranker-model", "spec.predictor.nodeSelector")
    ]
    predictor["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "nvidia.com/gpu.product", "operator": "In", "values": [product]}
                        ]
                    }
                ]
            }
        }
    }
    assert findings("gpu-placement", a100) == []


def test_runtime_placement_applies_to_the_predictor_pod() -> None:
    a100 = copy.deepcopy(render(REPO / "overlays/a100").objects)
    predictor = the(a100, "InferenceService")["spec"]["predictor"]
    runtime_spec = the(a100, "ServingRuntime")["spec"]
    runtime_spec["tolerations"] = predictor.pop("tolerations")
    assert findings("gpu-placement", a100) == []


def test_model_inherits_the_runtime_security_context(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    assert "securityContext" not in the(objects, "InferenceService")["spec"]["predictor"]["model"]
    assert findings("non-root", objects) == []

    the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = (
        False
    )
    the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"].pop("runAsUser")
    assert findings("non-root", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.model.securityContext.runAsNonRoot")
    ]


def test_mixed_deployment_modes_are_reported(cpu_objects) -> None:
    second = copy.deepcopy(the(cpu_objects, "InferenceService"))
    second["metadata"]["name"] = "other"
    second["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Knative"
    assert {obj for obj, _ in findings("deployment-mode", [*cpu_objects, second])} == {
        "InferenceService/reranker-model",
        "InferenceService/other",
    }


def test_scale_to_zero_in_standard_mode_needs_keda(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    isvc = the(objects, "InferenceService")
    isvc["spec"]["predictor"]["minReplicas"] = 0
    assert findings("scaling", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.minReplicas")
    ]
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    assert findings("scaling", objects) == []


def test_server_flag_check_uses_the_servers_parser(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    args = the(objects, "InferenceService")["spec"]["predictor"]["model"]["args"]
    args += ["--no-trust_remote_code", "--max_batch_tokens", "4096"]
    assert findings("server-flags", objects) == []
    args.append("--max_batch_tokens=10")  # below the server's minimum of 64
    assert findings("server-flags", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.model.args")
    ]
