"""KServe's MergeRuntimeContainers: the ServingRuntime's ``kserve-container`` with the model spec
of an InferenceService laid over it (a strategic merge, then the runtime's args followed by the
model's)."""

from __future__ import annotations

import copy
from typing import Any

# corev1.Container's patchMergeKey for the lists that strategic merge merges item by item.
LIST_MERGE_KEYS = {
    "env": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "resizePolicy": "resourceName",
}
KSERVE_CONTAINER = "kserve-container"
RUNTIME_KINDS = ("ServingRuntime", "ClusterServingRuntime")


def runtimes_by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o
        for o in objects
        if o.get("kind") in RUNTIME_KINDS and (o.get("metadata") or {}).get("name")
    }


def runtime_container(runtime: dict[str, Any] | None) -> dict[str, Any]:
    for container in ((runtime or {}).get("spec") or {}).get("containers") or []:
        if container.get("name") == KSERVE_CONTAINER:
            return container
    return {}


def merge_containers(runtime: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """KServe's MergeRuntimeContainers: strategic merge, then runtime args + model args."""
    merged = _strategic_merge(copy.deepcopy(runtime), copy.deepcopy(model))
    merged["name"] = merged.get("name") or runtime.get("name")
    merged["args"] = [*(runtime.get("args") or []), *(model.get("args") or [])]
    if not merged["args"]:
        del merged["args"]
    return merged


def _strategic_merge(base: Any, patch: Any, merge_key: str | None = None) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            if value is None:  # strategic merge: null deletes the field
                base.pop(key, None)
            elif key in base:
                base[key] = _strategic_merge(base[key], value, LIST_MERGE_KEYS.get(key))
            else:
                base[key] = value
        return base
    if isinstance(base, list) and isinstance(patch, list) and merge_key:
        merged = list(base)
        for item in patch:
            index = next(
                (i for i, old in enumerate(merged) if old.get(merge_key) == item.get(merge_key)),
                None,
            )
            if index is None:
                merged.append(item)
            else:
                merged[index] = _strategic_merge(merged[index], item)
        return merged
    return patch
