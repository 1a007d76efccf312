"""policies/security.py: non-root, container hardening and the API key, on the containers as KServe
merges them."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_model_inherits_the_runtime_security_context(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    assert "securityContext" not in the(objects, "InferenceService")["spec"]["predictor"]["model"]
    assert findings("non-root", objects) == []

    the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = False
    the(objects, "ServingRuntime")["spec"]["containers"][0]["securityContext"].pop("runAsUser")
    assert findings("non-root", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.model.securityContext.runAsNonRoot")
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
