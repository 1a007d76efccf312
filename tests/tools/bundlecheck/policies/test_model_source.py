"""policies/model_source.py: OCI models by digest, no unneeded Hugging Face token, and the URI of
the model-source component listed."""

from __future__ import annotations

import copy

import pytest

from tests.tools.bundlecheck.policies.bundle_objects import findings, the

ISVC_URI = ("InferenceService/reranker-model", "spec.predictor.model.storageUri")
DIGEST = "@sha256:" + "ab" * 32
TOKEN_SECRET = {
    "apiVersion": "external-secrets.io/v1",
    "kind": "ExternalSecret",
    "metadata": {"name": "hf-secret"},
    "spec": {"target": {"name": "hf-secret"}},
}


def with_uri(objects, uri: str):
    objects = copy.deepcopy(objects)
    the(objects, "InferenceService")["spec"]["predictor"]["model"]["storageUri"] = uri
    return objects


@pytest.mark.parametrize("scheme", ["oci://", "oci+native://"])
def test_an_oci_model_by_digest_passes(oci_objects, scheme: str) -> None:
    assert findings("oci-digest", with_uri(oci_objects, f"{scheme}registry.example.com/m{DIGEST}")) == []


@pytest.mark.parametrize(
    "uri",
    [
        "oci://registry.example.com/models/bge:1.0",
        "oci+native://registry.example.com/models/bge:latest",
        "oci://registry.example.com/models/bge",
        "oci://registry.example.com/models/bge@sha256:abc",
    ],
)
def test_an_oci_model_by_tag_or_short_digest_should_fail(oci_objects, uri: str) -> None:
    assert findings("oci-digest", with_uri(oci_objects, uri)) == [ISVC_URI]


def test_hf_and_pvc_uris_are_not_oci_digest_business(cpu_objects) -> None:
    assert findings("oci-digest", with_uri(cpu_objects, "pvc://claim/model")) == []
    assert findings("oci-digest", cpu_objects) == []


def test_a_token_secret_beside_an_oci_model_should_fail(oci_objects) -> None:
    assert findings("hf-token-needed", [*oci_objects, TOKEN_SECRET]) == [("ExternalSecret/hf-secret", "")]
    assert findings("hf-token-needed", oci_objects) == []


def test_a_token_secret_beside_an_hf_model_passes(cpu_objects) -> None:
    assert findings("hf-token-needed", [*cpu_objects, TOKEN_SECRET]) == []


def test_a_secret_the_storage_container_does_not_read_as_token_is_not_flagged(oci_objects) -> None:
    other = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api-key"}}
    assert findings("hf-token-needed", [*oci_objects, other]) == []


def test_a_token_in_the_server_pod_beside_a_pvc_model_should_fail(cpu_objects) -> None:
    objects = with_uri(cpu_objects, "pvc://claim/model")
    container = the(objects, "ServingRuntime")["spec"]["containers"][0]
    container["env"].append(
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-secret", "key": "HF_TOKEN"}}}
    )
    assert findings("hf-token-needed", objects) == [
        ("ServingRuntime/kserve-reranker", f"spec.containers[0].env[{len(container['env']) - 1}]")
    ]


def test_the_uri_served_should_have_the_scheme_of_the_source_listed(oci_objects) -> None:
    assert findings("model-source", oci_objects) == []
    # A model component listed after the source: its hf:// URI comes back.
    assert findings("model-source", with_uri(oci_objects, "hf://BAAI/bge-reranker-base:" + "a" * 40)) == [ISVC_URI]
    # oci:// given to the oci-native source.
    native = with_uri(oci_objects, f"oci://registry.example.com/m{DIGEST}")
    the(native, "InferenceService")["metadata"]["annotations"]["kserve-reranker.example.com/model-source"] = (
        "oci-native"
    )
    assert findings("model-source", native) == [ISVC_URI]


def test_an_unknown_source_should_fail(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    the(objects, "InferenceService")["metadata"]["annotations"]["kserve-reranker.example.com/model-source"] = "s3"
    assert findings("model-source", objects) == [
        ("InferenceService/reranker-model", 'metadata.annotations["kserve-reranker.example.com/model-source"]')
    ]
