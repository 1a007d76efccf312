"""offline.py: what would reach the Hugging Face hub or a public registry, and the kustomizations
that ask to be held to their mirror."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from bundlecheck.offline import image_registry, is_public_registry, offline_findings, wants_offline
from bundlecheck.render import render

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def cpu_objects() -> list[dict]:
    return render(REPO / "overlays/cpu").objects


@pytest.mark.parametrize(
    ("image", "registry"),
    [
        ("kserve/storage-initializer:v0.20.0", "docker.io"),
        ("busybox", "docker.io"),
        ("ghcr.io/example/kserve-reranker:0.1.0", "ghcr.io"),
        ("registry.internal:5000/ml/reranker@sha256:" + "ab" * 32, "registry.internal:5000"),
        ("localhost/reranker:dev", "localhost"),
    ],
)
def test_should_read_the_registry_of_an_image(image: str, registry: str) -> None:
    assert image_registry(image) == registry


@pytest.mark.parametrize(
    ("registry", "public"),
    [
        ("docker.io", True),
        ("quay.io", True),
        ("eu.gcr.io", True),
        ("europe-docker.pkg.dev", True),
        ("nvcr.io", True),
        ("public.ecr.aws", True),
        ("registry.internal", False),
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com", False),
    ],
)
def test_should_tell_public_registries_from_private_ones(registry: str, public: bool) -> None:
    assert is_public_registry(registry) is public


def test_a_default_overlay_reaches_the_hub_and_public_registries(cpu_objects) -> None:
    found = {(f.obj, f.path) for f in offline_findings(cpu_objects)}
    assert found == {
        ("ClusterStorageContainer/hf-hub", "spec.container.image"),
        ("ServingRuntime/kserve-reranker", "spec.containers[0].image"),
        ("InferenceService/reranker-model", "spec.predictor.model.storageUri"),
    }


def test_an_hf_uri_through_a_storage_container_with_a_hub_mirror_stays_inside(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    storage = next(o for o in objects if o["kind"] == "ClusterStorageContainer")
    storage["spec"]["container"]["env"].append({"name": "HF_ENDPOINT", "value": "https://hf-mirror.internal"})
    assert ("InferenceService/reranker-model", "spec.predictor.model.storageUri") not in {
        (f.obj, f.path) for f in offline_findings(objects)
    }
    storage["spec"]["container"]["env"][-1]["value"] = "https://huggingface.co"
    assert {f.path for f in offline_findings(objects)} >= {
        "spec.predictor.model.storageUri",
        f"spec.container.env[{len(storage['spec']['container']['env']) - 1}].value",
    }


def test_a_model_image_from_a_public_registry_is_reported(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    isvc = next(o for o in objects if o["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["storageUri"] = "oci://quay.io/org/model@sha256:" + "ab" * 32
    assert "from quay.io" in next(f.message for f in offline_findings(objects) if f.obj.startswith("InferenceService"))
    isvc["spec"]["predictor"]["model"]["storageUri"] = "oci://registry.internal/org/model@sha256:" + "ab" * 32
    assert not [f for f in offline_findings(objects) if f.obj.startswith("InferenceService")]


def test_a_cache_of_an_hf_model_and_a_public_flux_artifact_are_reported() -> None:
    objects = [
        {
            "apiVersion": "serving.kserve.io/v1alpha1",
            "kind": "LocalModelCache",
            "metadata": {"name": "m"},
            "spec": {"sourceModelUri": "hf://org/m:" + "a" * 40},
        },
        {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "OCIRepository",
            "metadata": {"name": "c"},
            "spec": {"url": "oci://ghcr.io/kserve/charts/kserve-crd"},
        },
    ]
    assert [(f.obj, f.path) for f in offline_findings(objects)] == [
        ("LocalModelCache/m", "spec.sourceModelUri"),
        ("OCIRepository/c", "spec.url"),
    ]


def test_a_kustomization_can_ask_for_the_offline_check(tmp_path: Path) -> None:
    assert wants_offline(REPO / "gitops/air-gapped")
    assert not wants_offline(REPO / "overlays/cpu")
    assert not wants_offline(tmp_path)
