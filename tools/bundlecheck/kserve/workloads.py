"""Find the pods and containers that rendered objects will run, as KServe will build them.

An InferenceService predictor becomes one pod: its ``model`` container is the ServingRuntime's
``kserve-container`` with the model's fields laid over it, and the runtime's nodeSelector,
tolerations and affinity apply unless the predictor sets its own. Policies check that
effective view, and report paths inside the object the user edits.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
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


# --- the pods KServe labels, and label selectors -------------------------------------------------

# The labels KServe v0.20 puts on every predictor pod (pkg/controller/v1beta1/inferenceservice/
# components/predictor.go buildObjectMeta; reconcilers/deployment adds "app" in Standard mode).
ISVC_LABEL = "serving.kserve.io/inferenceservice"
COMPONENT_LABEL = "component"
APP_LABEL = "app"


@dataclass
class PredictorPod:
    """The pods of one InferenceService predictor: their labels, replica floor and container."""

    isvc: dict[str, Any]
    labels: dict[str, str]
    min_replicas: int
    container: dict[str, Any]  # the merged kserve-container ({} without a model or runtime)


def predictor_pods(objects: list[dict[str, Any]]) -> Iterator[PredictorPod]:
    runtimes = runtimes_by_name(objects)
    for isvc in objects:
        predictor = (isvc.get("spec") or {}).get("predictor")
        if isvc.get("kind") != "InferenceService" or not isinstance(predictor, dict):
            continue
        model = predictor.get("model") if isinstance(predictor.get("model"), dict) else None
        runtime = runtimes.get((model or {}).get("runtime") or "")
        container = merge_containers(runtime_container(runtime), model) if runtime and model else {}
        low = predictor.get("minReplicas")
        yield PredictorPod(
            isvc,
            predictor_labels(isvc, runtime),
            low if isinstance(low, int) else 1,  # KServe's DefaultMinReplicas
            container,
        )


def predictor_labels(isvc: dict[str, Any], runtime: dict[str, Any] | None = None) -> dict[str, str]:
    """The labels of the predictor pods: the runtime's spec.labels, the InferenceService's own,
    the predictor's, then KServe's (later ones win)."""
    name = (isvc.get("metadata") or {}).get("name", "")
    predictor = (isvc.get("spec") or {}).get("predictor") or {}
    # constants.PredictorServiceName: <isvc>-predictor, or <isvc>-<predictor.name>-predictor.
    service = "-".join(p for p in (name, predictor.get("name"), "predictor") if p)
    return {
        **(((runtime or {}).get("spec") or {}).get("labels") or {}),
        **((isvc.get("metadata") or {}).get("labels") or {}),
        **(predictor.get("labels") or {}),
        ISVC_LABEL: name,
        COMPONENT_LABEL: "predictor",
        APP_LABEL: f"isvc.{service}",  # constants.GetRawServiceLabel
    }


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector against a pod's labels (an empty selector selects every pod)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True
