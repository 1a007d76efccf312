"""The model cache (components/model-cache): KServe must find the cache for the InferenceService,
download its URI, and let the pods mount the copy where they run.

What KServe v0.20 does, and this policy follows: the InferenceService defaulter picks the first
LocalModelCache whose sourceModelUri equals the storageUri or is a folder above it, on the node
group of the ``serving.kserve.io/nodegroup`` annotation (else the cache's first one); the pod's
URI becomes ``pvc://<cache>-<node group>/models/<sha256(sourceModelUri)[:16]><rest>``, still
resolved against a named storageContainerName; the claim's node-local volume ties the pods to
the nodes the LocalModelNodeGroup's volume selects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from kubernetes.utils import parse_quantity

from .base import Context, Violation, policy
from .model_source import is_oci
from .storage import claims, storage_uris

NODE_GROUP_ANNOTATION = "serving.kserve.io/nodegroup"
DISABLE_ANNOTATION = "serving.kserve.io/disable-localmodel"
# The download job runs the storage initializer, which fetches neither of these (and neither
# needs a cache: the node's image store keeps OCI images, a claim is a volume already).
NOT_DOWNLOADED = ("pvc://",)


def matches(source_uri: str, storage_uri: str) -> bool:
    """KServe's MatchStorageURI: the same URI, or one in a folder under it."""
    source, storage = source_uri.rstrip("/"), storage_uri.rstrip("/")
    return storage == source or storage.startswith(source + "/")


def cache_claim_uri(cache_name: str, node_group: str, source_uri: str, storage_uri: str) -> str:
    """The pvc:// URI KServe gives a cached pod (storage_initializer_injector.go)."""
    key = hashlib.sha256(source_uri.encode()).hexdigest()[:16]
    rest = storage_uri[len(source_uri) :]
    return f"pvc://{cache_name}-{node_group}/models/{key}{rest if rest.startswith('/') else '/' + rest}"


@policy(
    "model-cache",
    "a LocalModelCache KServe cannot match, download or mount (URI, node group, storage "
    "container, node placement) leaves every pod downloading the model, or refused",
)
def check_model_cache(context: Context) -> Iterator[Violation]:
    groups = {_name(o): o for o in context.objects if o.get("kind") == "LocalModelNodeGroup"}
    containers = {_name(o): o for o in context.objects if o.get("kind") == "ClusterStorageContainer"}
    services = [(obj, uri) for obj, path, uri in storage_uris(context.objects) if path[1] == "predictor"]
    for cache in (o for o in context.objects if o.get("kind") == "LocalModelCache"):
        spec = cache.get("spec") or {}
        source = str(spec.get("sourceModelUri") or "")
        if is_oci(source) or source.startswith(NOT_DOWNLOADED):
            yield Violation(
                cache,
                ["spec", "sourceModelUri"],
                f"KServe's download job cannot fetch {source!r}; cache downloaded sources (hf://) only: "
                "nodes keep OCI images in their image store, and a claim is a volume already",
            )
            continue
        node_groups = [str(g) for g in spec.get("nodeGroups") or []]
        yield from _node_groups(cache, node_groups, groups)
        matched = [(obj, uri) for obj, uri in services if matches(source, uri)]
        if not matched:
            found = ", ".join(sorted({uri for _, uri in services})) or "none"
            yield Violation(
                cache,
                ["spec", "sourceModelUri"],
                f"no InferenceService here has the storageUri {source!r} (or one under it), so KServe "
                f"uses the cache for none (storageUris: {found}); list components/model-cache last",
            )
        for isvc, uri in matched:
            yield from _cached_service(cache, source, node_groups, isvc, uri, groups, containers)


def _node_groups(
    cache: dict[str, Any], node_groups: list[str], groups: dict[str, dict[str, Any]]
) -> Iterator[Violation]:
    size = _quantity((cache.get("spec") or {}).get("modelSize"))
    for index, name in enumerate(node_groups):
        group = groups.get(name)
        if group is None:
            yield Violation(
                cache,
                ["spec", "nodeGroups", index],
                f"names LocalModelNodeGroup {name!r}, which this render does not declare",
            )
            continue
        limit = _quantity((group.get("spec") or {}).get("storageLimit"))
        if size is not None and limit is not None and size > limit:
            yield Violation(
                cache,
                ["spec", "modelSize"],
                f"modelSize is above the storageLimit of node group {name!r}: KServe will not cache it",
            )


def _cached_service(
    cache: dict[str, Any],
    source: str,
    node_groups: list[str],
    isvc: dict[str, Any],
    uri: str,
    groups: dict[str, dict[str, Any]],
    containers: dict[str, dict[str, Any]],
) -> Iterator[Violation]:
    annotations = (isvc.get("metadata") or {}).get("annotations") or {}
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    if DISABLE_ANNOTATION in annotations:
        yield Violation(
            isvc,
            ["metadata", "annotations", DISABLE_ANNOTATION],
            f"turns the model cache off, yet LocalModelCache {_name(cache)!r} caches this model",
        )
        return
    group = annotations.get(NODE_GROUP_ANNOTATION) or (node_groups[0] if node_groups else None)
    if group is None:
        return
    if group not in node_groups:
        yield Violation(
            isvc,
            ["metadata", "annotations", NODE_GROUP_ANNOTATION],
            f"node group {group!r} is not one LocalModelCache {_name(cache)!r} caches on ({', '.join(node_groups)})",
        )
        return
    pinned = predictor.get("storageContainerName")
    claim = cache_claim_uri(_name(cache), group, source, uri)
    if pinned and pinned in containers:
        formats = (containers[pinned].get("spec") or {}).get("supportedUriFormats") or []
        if not claims(formats, claim):
            yield Violation(
                isvc,
                ["spec", "predictor", "storageContainerName"],
                f"with the cache KServe resolves ClusterStorageContainer {pinned!r} against {claim!r}, "
                "which it does not claim: the pods are refused (a renamed cache or node group needs "
                "the regex of components/model-cache/storage_container_patch.yaml changed with it)",
            )
    if group in groups and not _selects_group(predictor.get("nodeSelector") or {}, groups[group]):
        yield Violation(
            isvc,
            ["spec", "predictor", "nodeSelector"],
            f"does not keep the pods on the nodes of node group {group!r} (its volume's node affinity), "
            "where the cached copy is: they could not mount it",
        )


def _selects_group(node_selector: dict[str, Any], group: dict[str, Any]) -> bool:
    """Whether every node the pod's nodeSelector admits is one the group's volume selects, as far
    as the labels the nodeSelector names tell."""
    affinity = (((group.get("spec") or {}).get("persistentVolumeSpec") or {}).get("nodeAffinity") or {}).get(
        "required"
    ) or {}
    terms = affinity.get("nodeSelectorTerms") or []
    if not terms:
        return True
    return any(all(_holds(e, node_selector) for e in term.get("matchExpressions") or []) for term in terms)


def _holds(expression: dict[str, Any], labels: dict[str, Any]) -> bool:
    key, operator = expression.get("key"), expression.get("operator")
    values = [str(v) for v in expression.get("values") or []]
    if operator == "In":
        return key in labels and str(labels[key]) in values
    if operator == "NotIn":
        return key in labels and str(labels[key]) not in values
    if operator == "Exists":
        return key in labels
    return False  # DoesNotExist, Gt, Lt: a nodeSelector cannot promise them


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _quantity(value: Any):
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None  # not a quantity: the schema check reports it
