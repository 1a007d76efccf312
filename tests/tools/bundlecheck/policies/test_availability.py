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
from bundlecheck.render import render, render_combination

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cpu_objects() -> list[dict[str, Any]]:
    return render(REPO / "overlays/cpu").objects


def findings(policy_id: str, objects: list[dict[str, Any]], **context: Any) -> list[tuple[str, str]]:
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
    broken_case = REPO / "tests/bundle/broken/no-secret-data"
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
    assert findings("gpu-placement", a100) == [("InferenceService/reranker-model", "spec.predictor.nodeSelector")]
    predictor["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": [product]}]}
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

    the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
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
    assert findings("scaling", objects) == [("InferenceService/reranker-model", "spec.predictor.minReplicas")]
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    assert findings("scaling", objects) == []


def test_server_flag_check_uses_the_servers_parser(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    args = the(objects, "InferenceService")["spec"]["predictor"]["model"]["args"]
    args += ["--no-trust_remote_code", "--max_batch_tokens", "4096"]
    assert findings("server-flags", objects) == []
    args.append("--max_batch_tokens=10")  # below the server's minimum of 64
    assert findings("server-flags", objects) == [("InferenceService/reranker-model", "spec.predictor.model.args")]


# --- pod lock-down, shutdown, API key, disruption budgets, network policies ------------


@pytest.fixture(scope="module")
def ha_objects() -> list[dict[str, Any]]:
    """overlays/cpu with components/high-availability and components/network-policy."""
    target = "+".join(
        str(REPO / p) for p in ("overlays/cpu", "components/high-availability", "components/network-policy")
    )
    return render_combination(target).objects


def test_every_new_policy_passes_the_replicated_bundle(ha_objects) -> None:
    for policy_id in (
        "service-account-token",
        "grace-period",
        "container-hardening",
        "api-key-secret",
        "storage-initializer-cache",
        "disruption-budget",
        "network-policy",
    ):
        assert findings(policy_id, ha_objects) == [], policy_id


def test_grace_period_reads_the_servers_env_and_its_defaults(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    runtime = the(objects, "ServingRuntime")["spec"]["containers"][0]
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    # Without the flags the server's defaults apply: 5 + 20 + 5 fits the 30 s given.
    runtime["args"] = [a for a in runtime["args"] if not a.startswith(("--drain", "--request"))]
    assert findings("grace-period", objects) == []
    # A variable counts as the server counts it (a flag would win over it).
    runtime["env"].append({"name": "RERANKER_REQUEST_TIMEOUT", "value": "60"})
    assert findings("grace-period", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.terminationGracePeriodSeconds")
    ]
    predictor["terminationGracePeriodSeconds"] = 70
    assert findings("grace-period", objects) == []
    # No grace period at all: Kubernetes' 30 s.
    del predictor["terminationGracePeriodSeconds"]
    (finding,) = POLICIES["grace-period"].check(Context(objects))
    assert "Kubernetes' default" in finding.message and "= 70 s" in finding.message


def test_service_account_token_must_be_off_for_every_component(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    del predictor["automountServiceAccountToken"]  # unset: Kubernetes mounts it
    assert findings("service-account-token", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.automountServiceAccountToken")
    ]


def test_container_hardening_covers_the_server_and_the_storage_initializer(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    storage = the(objects, "ClusterStorageContainer")["spec"]["container"]["securityContext"]
    for key in ("runAsUser", "seccompProfile", "capabilities"):
        del storage[key]
    server = the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"]
    del server["readOnlyRootFilesystem"]
    assert sorted(findings("container-hardening", objects)) == [
        ("ClusterStorageContainer/hf-hub", "spec.container.securityContext.capabilities.drop"),
        ("ClusterStorageContainer/hf-hub", "spec.container.securityContext.runAsUser"),
        ("ClusterStorageContainer/hf-hub", "spec.container.securityContext.seccompProfile"),
        (
            "InferenceService/reranker-model",
            "spec.predictor.model.securityContext.readOnlyRootFilesystem",
        ),
    ]


def test_pod_level_security_context_counts_for_user_and_seccomp(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    server = the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"]
    del server["runAsUser"], server["seccompProfile"]
    the(objects, "InferenceService")["spec"]["predictor"]["securityContext"] = {
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert findings("container-hardening", objects) == []


def test_storage_initializer_caches_must_be_in_the_model_volume(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    env = the(objects, "ClusterStorageContainer")["spec"]["container"]["env"]
    env.append({"name": "HF_XET_CACHE", "value": "/home/kserve/.cache/xet"})
    assert findings("storage-initializer-cache", objects) == [
        ("ClusterStorageContainer/hf-hub", f"spec.container.env[{len(env) - 1}].value")
    ]
    env[-1]["value"] = "/mnt/models/.cache/xet"
    assert findings("storage-initializer-cache", objects) == []


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "RERANKER_API_KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
        {"name": "RERANKER_API_KEY", "value": ""},
    ],
)
def test_api_key_must_come_from_a_secret(cpu_objects, entry: dict[str, Any]) -> None:
    objects = copy.deepcopy(cpu_objects)
    the(objects, "InferenceService")["spec"]["predictor"]["model"]["env"] = [entry]
    ((obj, path),) = findings("api-key-secret", objects)
    assert obj == "InferenceService/reranker-model"
    assert path.startswith("spec.predictor.model.env[0]")


def test_api_key_flag_with_a_separate_value_is_found(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    the(objects, "ServingRuntime")["spec"]["containers"][0]["args"] += ["--api_key", "k"]
    assert findings("api-key-secret", objects) == [("ServingRuntime/kserve-reranker", "spec.containers[0].args[5]")]


def pdb(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "PodDisruptionBudget")["spec"]


@pytest.mark.parametrize(
    ("budget", "blocking_field"),
    [
        ({"maxUnavailable": 0}, "spec.maxUnavailable"),
        ({"maxUnavailable": "0%"}, "spec.maxUnavailable"),
        ({"minAvailable": "100%"}, "spec.minAvailable"),
        ({"minAvailable": "60%"}, "spec.minAvailable"),  # ceil(1.2) = 2 of 2 replicas
        ({"minAvailable": 1}, None),
        ({"minAvailable": "50%"}, None),
        ({"maxUnavailable": "10%"}, None),  # rounded up: one pod
    ],
)
def test_disruption_budget_must_leave_an_eviction_at_min_replicas(
    ha_objects, budget: dict[str, Any], blocking_field: str | None
) -> None:
    objects = copy.deepcopy(ha_objects)
    spec = pdb(objects)
    del spec["maxUnavailable"]
    spec.update(budget)
    expected = [("PodDisruptionBudget/reranker-model-predictor", blocking_field)]
    assert findings("disruption-budget", objects) == (expected if blocking_field else [])


def test_disruption_budget_over_one_replica_or_unready_pods_is_reported(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    the(objects, "InferenceService")["spec"]["predictor"]["minReplicas"] = 1
    del pdb(objects)["unhealthyPodEvictionPolicy"]
    assert findings("disruption-budget", objects) == [
        ("PodDisruptionBudget/reranker-model-predictor", "spec"),
        ("PodDisruptionBudget/reranker-model-predictor", "spec.unhealthyPodEvictionPolicy"),
    ]


def test_two_budgets_on_the_same_pods_are_reported(ha_objects) -> None:
    second = copy.deepcopy(the(ha_objects, "PodDisruptionBudget"))
    second["metadata"]["name"] = "another"
    assert findings("disruption-budget", [*ha_objects, second]) == [("PodDisruptionBudget/another", "spec.selector")]


def test_budget_selects_by_every_label_kserve_gives_the_pods(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    the(objects, "InferenceService")["metadata"]["labels"] = {"team": "search"}
    pdb(objects)["selector"] = {
        "matchLabels": {"app": "isvc.reranker-model-predictor"},
        "matchExpressions": [{"key": "team", "operator": "In", "values": ["search"]}],
    }
    assert findings("disruption-budget", objects) == []
    pdb(objects)["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert findings("disruption-budget", objects) == [("PodDisruptionBudget/reranker-model-predictor", "spec.selector")]


def netpol(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "NetworkPolicy")["spec"]


@pytest.mark.parametrize(
    ("ports", "admitted"),
    [
        ([{"port": 8080}], True),
        ([{"port": "http1", "protocol": "TCP"}], True),
        ([{"port": 8000, "endPort": 9000}], True),
        ([{"protocol": "TCP"}], True),  # every TCP port
        ([{"port": 9090}], False),
        ([{"port": "http1", "protocol": "UDP"}], False),
    ],
)
def test_network_policy_must_admit_the_serving_port(ha_objects, ports: list[dict[str, Any]], admitted: bool) -> None:
    objects = copy.deepcopy(ha_objects)
    for rule in netpol(objects)["ingress"]:
        rule["ports"] = ports
    expected = [] if admitted else [("NetworkPolicy/reranker-model-predictor", "spec.ingress")]
    assert findings("network-policy", objects) == expected


def test_network_policy_without_ingress_rules_drops_every_request(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    del netpol(objects)["ingress"]
    assert findings("network-policy", objects) == [("NetworkPolicy/reranker-model-predictor", "spec.ingress")]
    netpol(objects)["policyTypes"] = ["Egress"]
    assert findings("network-policy", objects) == [("NetworkPolicy/reranker-model-predictor", "spec.policyTypes")]


def test_keda_autoscaling_follows_kserves_webhook_rules(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    isvc = the(objects, "InferenceService")
    predictor = isvc["spec"]["predictor"]
    predictor["autoScaling"] = {"metrics": [{"type": "External", "external": {"metric": {"backend": "prometheus"}}}]}
    predictor["scaleMetric"] = "cpu"
    metric = "spec.predictor.autoScaling.metrics[0]"
    # The default autoscaler (an HPA) scales on Resource metrics only.
    assert ("InferenceService/reranker-model", f"{metric}.type") in findings("scaling", objects)
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    assert sorted(findings("scaling", objects)) == [
        ("InferenceService/reranker-model", f"{metric}.external.metric.query"),
        ("InferenceService/reranker-model", f"{metric}.external.target.value"),
        ("InferenceService/reranker-model", "spec.predictor.scaleMetric"),
    ]


# --- model components on the overlays they claim ---------------------------------------


def model_on(overlay: str, model: str) -> list[dict[str, Any]]:
    return render_combination(f"{REPO / 'overlays' / overlay}+{REPO / 'components/models' / model}").objects


def model_fit(objects: list[dict[str, Any]]) -> list[str]:
    return [f.message for f in POLICIES["model-fit"].check(Context(objects))]


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
        ("NVIDIA-B200", []),  # a card the table does not know: nothing to say
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
