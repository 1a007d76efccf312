"""Model storage: a pinned model revision, and one storage container that downloads it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..kserve.workloads import ISVC_COMPONENTS
from .base import Context, Violation, policy

HF_SCHEME = "hf://"
# Where KServe mounts the model volume in the storage initializer: its one writable place when
# the root filesystem is read-only (a ClusterStorageContainer cannot add volumes).
MODEL_MOUNT = "/mnt/models"
# huggingface_hub and hf_xet write under HF_HOME (default ~/.cache/huggingface) unless these
# say otherwise; each one set must be writable too.
HF_CACHE_VARIABLES = ("HF_HOME", "HF_HUB_CACHE", "HF_XET_CACHE", "XDG_CACHE_HOME")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
# What KServe's own ClusterStorageContainers (config/storagecontainers/default.yaml) claim. They
# exist in every KServe install, so they compete with the bundle's containers. (Releases before
# `default-hf` existed let `default` claim hf:// instead: the count is the same.)
KSERVE_BUILTIN_FORMATS: dict[str, list[dict[str, str]]] = {
    "default": [
        {"prefix": "gs://"},
        {"prefix": "s3://"},
        {"prefix": "hdfs://"},
        {"prefix": "webhdfs://"},
        {"regex": r"https://(.+?).blob.core.windows.net/(.+)"},
        {"regex": r"https://(.+?).file.core.windows.net/(.+)"},
        {"regex": r"https?://(.+)/(.+)"},
    ],
    "default-hf": [{"prefix": HF_SCHEME}],
}


@policy(
    "storage-uri-pinned",
    "an hf:// model without a commit follows the repository's main branch: every restart may serve different weights",
)
def check_storage_uri_pinned(context: Context) -> Iterator[Violation]:
    for obj, path, uri in storage_uris(context.objects):
        if not uri.startswith(HF_SCHEME):
            continue
        repo, _, revision = uri[len(HF_SCHEME) :].partition(":")
        if not _COMMIT.match(revision):
            yield Violation(
                obj,
                path,
                f"{uri!r} is not pinned to a revision: use hf://{repo}:<40-hex commit sha>",
            )


@policy(
    "storage-container",
    "when several ClusterStorageContainers claim a URI KServe picks one at random; exactly one "
    "must claim it, or storageContainerName must name one that does",
)
def check_storage_container(context: Context) -> Iterator[Violation]:
    bundled = {
        o["metadata"]["name"]: (o.get("spec") or {}).get("supportedUriFormats") or []
        for o in context.objects
        if o.get("kind") == "ClusterStorageContainer"
    }
    for obj, path, uri in storage_uris(context.objects):
        component = path[1]
        pinned = ((obj.get("spec") or {}).get(component) or {}).get("storageContainerName")
        if pinned:
            if pinned not in bundled:
                yield Violation(
                    obj,
                    ["spec", component, "storageContainerName"],
                    f"names ClusterStorageContainer {pinned!r}, which the bundle does not provide",
                )
            elif not claims(bundled[pinned], uri):
                yield Violation(
                    obj,
                    ["spec", component, "storageContainerName"],
                    f"ClusterStorageContainer {pinned!r} does not support {uri!r}",
                )
            continue
        claimants = [n for n, formats in {**KSERVE_BUILTIN_FORMATS, **bundled}.items() if claims(formats, uri)]
        if len(claimants) > 1:
            yield Violation(
                obj,
                path,
                f"{uri!r} is claimed by {', '.join(sorted(claimants))}: set spec.{component}.storageContainerName",
            )


@policy(
    "storage-initializer-cache",
    "with a read-only root the hf:// storage initializer can only write into the model volume: "
    f"HF_HOME (and any other cache directory it is given) must be under {MODEL_MOUNT}",
)
def check_storage_initializer_cache(context: Context) -> Iterator[Violation]:
    for obj in context.objects:
        spec = obj.get("spec") or {}
        container = spec.get("container")
        if obj.get("kind") != "ClusterStorageContainer" or not isinstance(container, dict):
            continue
        if not claims(spec.get("supportedUriFormats") or [], f"{HF_SCHEME}org/model"):
            continue
        if (container.get("securityContext") or {}).get("readOnlyRootFilesystem") is not True:
            continue  # a writable root has a writable home (container-hardening reports it)
        env = {e.get("name"): (index, e) for index, e in enumerate(container.get("env") or []) if isinstance(e, dict)}
        if "HF_HOME" not in env:
            yield Violation(
                obj,
                ["spec", "container", "env"],
                "no HF_HOME: huggingface_hub and hf_xet would write to ~/.cache/huggingface on "
                f"the read-only root; set HF_HOME to a directory under {MODEL_MOUNT}",
            )
        for name in HF_CACHE_VARIABLES:
            if name not in env:
                continue
            index, entry = env[name]
            value = entry.get("value")
            if not (isinstance(value, str) and _under(value, MODEL_MOUNT)):
                yield Violation(
                    obj,
                    ["spec", "container", "env", index, "value"],
                    f"{name}={value!r} is not under {MODEL_MOUNT}, the only writable directory "
                    "of a read-only storage initializer",
                )


def _under(path: str, directory: str) -> bool:
    return path.rstrip("/") == directory or path.startswith(directory.rstrip("/") + "/")


def claims(formats: list[dict[str, Any]], uri: str) -> bool:
    for uri_format in formats:
        prefix, regex = uri_format.get("prefix"), uri_format.get("regex")
        if (prefix and uri.startswith(prefix)) or (regex and re.match(regex, uri)):
            return True
    return False


def storage_uris(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[Any], str]]:
    """(InferenceService, path, uri) for each storageUri of each component's model."""
    for obj in objects:
        if obj.get("kind") != "InferenceService":
            continue
        for component in ISVC_COMPONENTS:
            for key, part in ((obj.get("spec") or {}).get(component) or {}).items():
                if isinstance(part, dict) and isinstance(part.get("storageUri"), str):
                    yield obj, ["spec", component, key, "storageUri"], part["storageUri"]
