"""policies/storage.py: the storage initializer's caches in the model volume."""

from __future__ import annotations

import copy

from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_storage_initializer_caches_must_be_in_the_model_volume(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    env = the(objects, "ClusterStorageContainer")["spec"]["container"]["env"]
    env.append({"name": "HF_XET_CACHE", "value": "/home/kserve/.cache/xet"})
    assert findings("storage-initializer-cache", objects) == [
        ("ClusterStorageContainer/hf-hub", f"spec.container.env[{len(env) - 1}].value")
    ]
    env[-1]["value"] = "/mnt/models/.cache/xet"
    assert findings("storage-initializer-cache", objects) == []


def test_an_hf_uri_should_name_a_commit(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    model = the(objects, "InferenceService")["spec"]["predictor"]["model"]
    assert findings("storage-uri-pinned", objects) == []
    model["storageUri"] = "hf://BAAI/bge-reranker-base:main"
    assert findings("storage-uri-pinned", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.model.storageUri")
    ]


def test_a_uri_two_storage_containers_claim_needs_the_name_of_one(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    assert findings("storage-container", objects) == []
    del predictor["storageContainerName"]  # KServe's default-hf claims hf:// too
    assert findings("storage-container", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.model.storageUri")
    ]
    predictor["storageContainerName"] = "elsewhere"
    assert findings("storage-container", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.storageContainerName")
    ]
