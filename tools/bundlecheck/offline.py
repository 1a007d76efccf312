"""``--offline``: every rendered object that would reach the Hugging Face hub or a public image
registry, for clusters that reach neither (air-gapped, or egress allow-listed to a mirror).

A kustomization can ask for this check itself: ``metadata.annotations`` of its kustomization.yaml
with ``kserve-reranker.example.com/offline: "true"`` (kustomize ignores the annotation), so that
every run of the validator, ``make validate`` included, holds it to its mirror.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from .findings import Finding, format_path, object_ref
from .kserve.workloads import raw_containers
from .policies.model_source import is_oci
from .policies.storage import HF_SCHEME, storage_uris

OFFLINE = "offline"  # the check id of these findings
OFFLINE_ANNOTATION = "kserve-reranker.example.com/offline"
# Docker's rule: a first path part with a dot or a port, or localhost, is a registry; otherwise
# the image is on Docker Hub.
DOCKER_HUB = "docker.io"
PUBLIC_REGISTRIES = {
    DOCKER_HUB,
    "index.docker.io",
    "registry-1.docker.io",
    "ghcr.io",
    "quay.io",
    "gcr.io",
    "k8s.gcr.io",
    "registry.k8s.io",
    "nvcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "registry.gitlab.com",
    "docker.elastic.co",
    "cgr.dev",
}
# Google's regional registries (eu.gcr.io) and Artifact Registry (europe-docker.pkg.dev).
PUBLIC_REGISTRY_SUFFIXES = (".gcr.io", ".pkg.dev")
HF_HOSTS = ("huggingface.co", "hf.co")
HF_ENDPOINT = "HF_ENDPOINT"


def image_registry(image: str) -> str:
    """The registry host of an image reference (``docker.io`` for ``kserve/storage-initializer``)."""
    first, slash, _ = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return DOCKER_HUB


def is_public_registry(registry: str) -> bool:
    host = registry.split(":", 1)[0]
    return host in PUBLIC_REGISTRIES or host.endswith(PUBLIC_REGISTRY_SUFFIXES)


def is_hf_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in HF_HOSTS)


def wants_offline(target_dir: Path) -> bool:
    """Whether the kustomization in ``target_dir`` asks for the offline check."""
    path = target_dir / "kustomization.yaml"
    if not path.is_file():
        return False
    config = yaml.safe_load(path.read_text()) or {}
    annotations = (config.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(OFFLINE_ANNOTATION, "")).lower() == "true"


def offline_findings(objects: list[dict[str, Any]]) -> list[Finding]:
    return [
        Finding(OFFLINE, object_ref(obj), format_path(path), message) for obj, path, message in _reaching_out(objects)
    ]


def _reaching_out(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[Any], str]]:
    for container in raw_containers(objects):
        image = container.spec.get("image")
        if isinstance(image, str) and is_public_registry(image_registry(image)):
            yield (
                container.obj,
                [*container.path, "image"],
                f"pulls {image!r} from {image_registry(image)}: mirror it and rewrite it with images: newName",
            )
        for index, entry in enumerate(container.spec.get("env") or []):
            value = (entry or {}).get("value")
            if entry.get("name") == HF_ENDPOINT and isinstance(value, str) and is_hf_host(value):
                yield container.obj, [*container.path, "env", index, "value"], f"{HF_ENDPOINT} is the hub ({value})"
    mirrored = _hf_mirrored_containers(objects)
    for obj, path, uri in storage_uris(objects):
        if uri.startswith(HF_SCHEME):
            pinned = ((obj.get("spec") or {}).get(path[1]) or {}).get("storageContainerName")
            if pinned not in mirrored:
                yield (
                    obj,
                    path,
                    f"{uri!r} is downloaded from the Hugging Face hub at pod start: use an oci:// or pvc:// "
                    "model source (components/model-source)",
                )
        elif is_oci(uri):
            image = uri.split("://", 1)[1]
            if is_public_registry(image_registry(image)):
                yield obj, path, f"the model image is pulled from {image_registry(image)}: mirror it"
    for obj in objects:
        spec = obj.get("spec") or {}
        if obj.get("kind") == "LocalModelCache" and str(spec.get("sourceModelUri", "")).startswith(HF_SCHEME):
            yield obj, ["spec", "sourceModelUri"], "KServe's download job fetches this model from the Hugging Face hub"
        if obj.get("kind") == "OCIRepository" and isinstance(spec.get("url"), str):
            registry = image_registry(spec["url"].removeprefix("oci://"))
            if is_public_registry(registry):
                yield obj, ["spec", "url"], f"Flux pulls this artifact from {registry}: mirror it"


def _hf_mirrored_containers(objects: list[dict[str, Any]]) -> set[str]:
    """Storage containers whose HF_ENDPOINT is a mirror of the hub, not the hub."""
    names = set()
    for obj in objects:
        container = (obj.get("spec") or {}).get("container") or {}
        if obj.get("kind") != "ClusterStorageContainer":
            continue
        for entry in container.get("env") or []:
            value = (entry or {}).get("value")
            if entry.get("name") == HF_ENDPOINT and isinstance(value, str) and not is_hf_host(value):
                names.add((obj.get("metadata") or {}).get("name"))
    return names
