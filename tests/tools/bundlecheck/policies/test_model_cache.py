"""policies/model_cache.py: a LocalModelCache KServe matches to the InferenceService, downloads,
and lets the pods mount where they run."""

from __future__ import annotations

import copy
import hashlib

import pytest

from bundlecheck.policies.model_cache import cache_claim_uri, matches
from tests.tools.bundlecheck.policies.bundle_objects import findings, the

CACHE_URI = ("LocalModelCache/reranker-model", "spec.sourceModelUri")


def test_the_component_renders_a_cache_kserve_uses(cached_objects) -> None:
    assert findings("model-cache", cached_objects) == []


@pytest.mark.parametrize(
    ("source", "storage", "expected"),
    [
        ("hf://org/m:abc", "hf://org/m:abc", True),
        ("hf://org/m:abc/", "hf://org/m:abc", True),
        ("s3://bucket/models", "s3://bucket/models/bge", True),
        ("s3://bucket/models", "s3://bucket/models-old", False),
        ("hf://org/m:abc", "hf://org/m:def", False),
    ],
)
def test_should_match_uris_as_kserve_does(source: str, storage: str, expected: bool) -> None:
    assert matches(source, storage) is expected


def test_should_name_the_claim_kserve_gives_a_cached_pod() -> None:
    key = hashlib.sha256(b"s3://bucket/models").hexdigest()[:16]
    assert cache_claim_uri("c", "g", "s3://bucket/models", "s3://bucket/models") == f"pvc://c-g/models/{key}/"
    assert cache_claim_uri("c", "g", "s3://bucket/models", "s3://bucket/models/bge") == f"pvc://c-g/models/{key}/bge"


def test_a_cache_of_another_uri_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    the(objects, "LocalModelCache")["spec"]["sourceModelUri"] = "hf://BAAI/other:" + "a" * 40
    assert findings("model-cache", objects) == [CACHE_URI]


@pytest.mark.parametrize("uri", ["oci://registry.example.com/m@sha256:" + "ab" * 32, "pvc://claim/model"])
def test_a_cache_of_a_source_kserve_does_not_download_should_fail(cached_objects, uri: str) -> None:
    objects = copy.deepcopy(cached_objects)
    the(objects, "LocalModelCache")["spec"]["sourceModelUri"] = uri
    the(objects, "InferenceService")["spec"]["predictor"]["model"]["storageUri"] = uri
    assert findings("model-cache", objects) == [CACHE_URI]


def test_a_node_group_not_declared_should_fail(cached_objects) -> None:
    objects = [o for o in copy.deepcopy(cached_objects) if o["kind"] != "LocalModelNodeGroup"]
    assert ("LocalModelCache/reranker-model", "spec.nodeGroups[0]") in findings("model-cache", objects)


def test_a_model_larger_than_the_node_groups_disk_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    the(objects, "LocalModelCache")["spec"]["modelSize"] = "200Gi"
    assert findings("model-cache", objects) == [("LocalModelCache/reranker-model", "spec.modelSize")]


def test_a_storage_container_that_refuses_the_caches_claim_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    formats = the(objects, "ClusterStorageContainer")["spec"]["supportedUriFormats"]
    formats[:] = [f for f in formats if "regex" not in f]
    assert findings("model-cache", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.storageContainerName")
    ]


def test_pods_off_the_node_groups_nodes_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    del the(objects, "InferenceService")["spec"]["predictor"]["nodeSelector"]
    assert findings("model-cache", objects) == [("InferenceService/reranker-model", "spec.predictor.nodeSelector")]


def test_a_node_group_annotation_the_cache_does_not_name_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    the(objects, "InferenceService")["metadata"]["annotations"]["serving.kserve.io/nodegroup"] = "cpus"
    assert findings("model-cache", objects) == [
        ("InferenceService/reranker-model", 'metadata.annotations["serving.kserve.io/nodegroup"]')
    ]


def test_a_cache_turned_off_on_the_inference_service_should_fail(cached_objects) -> None:
    objects = copy.deepcopy(cached_objects)
    the(objects, "InferenceService")["metadata"]["annotations"]["serving.kserve.io/disable-localmodel"] = "true"
    assert findings("model-cache", objects) == [
        ("InferenceService/reranker-model", 'metadata.annotations["serving.kserve.io/disable-localmodel"]')
    ]


def test_no_cache_no_finding(cpu_objects) -> None:
    assert findings("model-cache", cpu_objects) == []
