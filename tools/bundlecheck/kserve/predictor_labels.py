"""The pods of each InferenceService predictor as a label selector sees them: the labels KServe
gives them, their replica floor and their merged container; and whether a selector picks them
(PodDisruptionBudgets and NetworkPolicies must)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .container_merge import merge_containers, runtime_container, runtimes_by_name

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
