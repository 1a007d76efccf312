"""Find the pods and containers that rendered objects will run, as KServe will build them.

An InferenceService predictor becomes one pod: its ``model`` container is the ServingRuntime's
``kserve-container`` with the model's fields laid over it (container_merge.py), and the runtime's
nodeSelector, tolerations and affinity apply unless the predictor sets its own. Policies check
that effective view, and report paths inside the object the user edits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .container_merge import KSERVE_CONTAINER, RUNTIME_KINDS, merge_containers, runtime_container, runtimes_by_name

ISVC_COMPONENTS = ("predictor", "transformer", "explainer")
# Where each built-in workload keeps its pod spec.
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_PLACEMENT_FIELDS = ("nodeSelector", "tolerations", "affinity")


@dataclass
class Container:
    obj: dict[str, Any]
    path: list[Any]  # where the container is in obj
    spec: dict[str, Any]  # effective fields (runtime fields merged in for a KServe model)
    pod_security: dict[str, Any] = field(default_factory=dict)  # the pod's securityContext


@dataclass
class Pod:
    obj: dict[str, Any]
    path: list[Any]  # where the pod-level fields are in obj
    fields: dict[str, Any]  # effective nodeSelector, tolerations, affinity, securityContext
    containers: list[Container]


def pods(objects: list[dict[str, Any]]) -> Iterator[Pod]:
    """Every pod the objects will create, with effective fields."""
    runtimes = runtimes_by_name(objects)
    used_runtimes: set[str] = set()
    for obj in objects:
        kind = obj.get("kind")
        if kind == "InferenceService":
            for pod, runtime_name in _isvc_pods(obj, runtimes):
                if runtime_name:
                    used_runtimes.add(runtime_name)
                yield pod
        elif kind in POD_SPEC_PATHS:
            path = list(POD_SPEC_PATHS[kind])
            spec = _dig(obj, path)
            if isinstance(spec, dict):
                yield Pod(obj, path, spec, list(_pod_containers(obj, path, spec)))
    # A runtime no InferenceService of this render uses is checked as it stands.
    for name, runtime in runtimes.items():
        if name not in used_runtimes:
            spec = runtime.get("spec") or {}
            yield Pod(runtime, ["spec"], spec, list(_pod_containers(runtime, ["spec"], spec)))


def raw_containers(objects: list[dict[str, Any]]) -> Iterator[Container]:
    """Every container as written in the objects (runtimes, InferenceService components,
    storage initializers, built-in workloads), without any merging."""
    for obj in objects:
        kind, spec = obj.get("kind"), obj.get("spec") or {}
        if kind in RUNTIME_KINDS:
            yield from _pod_containers(obj, ["spec"], spec)
        elif kind == "ClusterStorageContainer" and isinstance(spec.get("container"), dict):
            yield Container(obj, ["spec", "container"], spec["container"])
        elif kind == "InferenceService":
            for component in ISVC_COMPONENTS:
                part = spec.get(component)
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("model"), dict):
                    yield Container(obj, ["spec", component, "model"], part["model"])
                yield from _pod_containers(obj, ["spec", component], part)
        elif kind in POD_SPEC_PATHS:
            pod_spec = _dig(obj, list(POD_SPEC_PATHS[kind]))
            if isinstance(pod_spec, dict):
                yield from _pod_containers(obj, list(POD_SPEC_PATHS[kind]), pod_spec)


def effective_containers(objects: list[dict[str, Any]]) -> Iterator[Container]:
    """Every container as it will run: those of pods() (a KServe model merged with its
    runtime's kserve-container), plus the storage initializers KServe injects."""
    for pod in pods(objects):
        yield from pod.containers
    for obj in objects:
        container = (obj.get("spec") or {}).get("container")
        if obj.get("kind") == "ClusterStorageContainer" and isinstance(container, dict):
            yield Container(obj, ["spec", "container"], container)


def _isvc_pods(isvc: dict[str, Any], runtimes: dict[str, dict[str, Any]]):
    for component in ISVC_COMPONENTS:
        spec = (isvc.get("spec") or {}).get(component)
        if not isinstance(spec, dict):
            continue
        path = ["spec", component]
        model = spec.get("model") if component == "predictor" else None
        runtime_name = (model or {}).get("runtime") if isinstance(model, dict) else None
        runtime = runtimes.get(runtime_name or "")
        runtime_spec = (runtime or {}).get("spec") or {}
        fields = {k: runtime_spec[k] for k in POD_PLACEMENT_FIELDS if k in runtime_spec}
        fields.update({k: spec[k] for k in (*POD_PLACEMENT_FIELDS, "securityContext") if k in spec})
        found = list(_pod_containers(isvc, path, spec))
        # The runtime's other containers (sidecars) run in the same pod.
        if runtime:
            found += [
                c for c in _pod_containers(runtime, ["spec"], runtime_spec) if c.spec.get("name") != KSERVE_CONTAINER
            ]
        if isinstance(model, dict):
            effective = merge_containers(runtime_container(runtime), model)
            found.insert(0, Container(isvc, [*path, "model"], effective, spec.get("securityContext") or {}))
        yield Pod(isvc, path, fields, found), (runtime_name if runtime else None)


def _pod_containers(obj, path: list[Any], spec: dict[str, Any]) -> Iterator[Container]:
    security = spec.get("securityContext") or {}
    for key in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(key) or []):
            if isinstance(container, dict):
                yield Container(obj, [*path, key, index], container, security)


def _dig(obj: Any, path: list[Any]) -> Any:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj
