"""KServe deployment mode and the scaling settings that mode supports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..kserve.workloads import ISVC_COMPONENTS
from .base import Context, Violation, policy

MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
AUTOSCALER_ANNOTATION = "serving.kserve.io/autoscalerClass"
# Standard is KServe >= 0.16's name for RawDeployment, Knative for Serverless.
PLAIN_DEPLOYMENT_MODES = {"Standard", "RawDeployment"}
KNATIVE_MODES = {"Knative", "Serverless"}
KNOWN_MODES = PLAIN_DEPLOYMENT_MODES | KNATIVE_MODES | {"ModelMesh"}
MODE_KINDS = ("InferenceService", "InferenceGraph")
# A HorizontalPodAutoscaler scales on resource metrics only; request-based metrics need Knative.
HPA_METRICS = {"cpu", "memory"}
KNATIVE_METRICS = {"concurrency", "rps", "cpu", "memory"}
# Autoscalers that can scale a plain Deployment to zero.
SCALE_TO_ZERO_AUTOSCALERS = {"keda", "external"}


@policy(
    "deployment-mode",
    "without the annotation the mode is the cluster's default (Knative on many installs); mixed "
    "modes in one bundle need both stacks",
)
def check_deployment_mode(context: Context) -> Iterator[Violation]:
    annotated = [o for o in context.objects if o.get("kind") in MODE_KINDS]
    modes = {_mode(o) for o in annotated} - {None}
    path = ["metadata", "annotations", MODE_ANNOTATION]
    for obj in annotated:
        mode = _mode(obj)
        if mode is None:
            yield Violation(obj, path, f"no {MODE_ANNOTATION} annotation")
        elif mode not in KNOWN_MODES:
            yield Violation(
                obj,
                path,
                f"unknown deployment mode {mode!r}; use one of {', '.join(sorted(KNOWN_MODES))}",
            )
        elif len(modes) > 1:
            yield Violation(
                obj,
                path,
                f"mode {mode!r} differs from others in this bundle ({', '.join(sorted(modes - {mode}))})",
            )


@policy(
    "scaling",
    "replica bounds and scale metrics must be ones the deployment mode's autoscaler can honour",
)
def check_scaling(context: Context) -> Iterator[Violation]:
    for obj in context.objects:
        if obj.get("kind") == "InferenceService":
            yield from _isvc_scaling(obj)
        elif obj.get("kind") == "HorizontalPodAutoscaler":
            spec = obj.get("spec") or {}
            low, high = spec.get("minReplicas", 1), spec.get("maxReplicas")
            if isinstance(low, int) and isinstance(high, int) and low > high:
                yield Violation(
                    obj,
                    ["spec", "minReplicas"],
                    f"minReplicas {low} is above maxReplicas {high}",
                )


def _isvc_scaling(obj: dict[str, Any]) -> Iterator[Violation]:
    mode = _mode(obj)
    autoscaler = ((obj.get("metadata") or {}).get("annotations") or {}).get(AUTOSCALER_ANNOTATION)
    for component in ISVC_COMPONENTS:
        spec = (obj.get("spec") or {}).get(component)
        if not isinstance(spec, dict):
            continue
        path = ["spec", component]
        low, high = spec.get("minReplicas"), spec.get("maxReplicas")
        # maxReplicas 0 means "no upper bound" to KServe.
        if isinstance(low, int) and isinstance(high, int) and high > 0 and low > high:
            yield Violation(
                obj,
                [*path, "minReplicas"],
                f"minReplicas {low} is above maxReplicas {high}",
            )
        metric = spec.get("scaleMetric")
        if mode in PLAIN_DEPLOYMENT_MODES:
            yield from _autoscaling_metrics(obj, path, spec, autoscaler)
            if low == 0 and autoscaler not in SCALE_TO_ZERO_AUTOSCALERS:
                yield Violation(
                    obj,
                    [*path, "minReplicas"],
                    f"minReplicas 0 in {mode} mode needs {AUTOSCALER_ANNOTATION}: keda (an HPA cannot scale to zero)",
                )
            if metric and autoscaler in (None, "hpa") and metric not in HPA_METRICS:
                yield Violation(
                    obj,
                    [*path, "scaleMetric"],
                    f"scaleMetric {metric!r} needs Knative; {mode} mode's HPA scales on "
                    f"{' or '.join(sorted(HPA_METRICS))}",
                )
        elif mode in KNATIVE_MODES and metric and metric not in KNATIVE_METRICS:
            yield Violation(obj, [*path, "scaleMetric"], f"unknown Knative scaleMetric {metric!r}")


def _autoscaling_metrics(
    obj: dict[str, Any], path: list[Any], spec: dict[str, Any], autoscaler: str | None
) -> Iterator[Violation]:
    """What KServe's webhook refuses (inference_service_validation.go, validateScaling*)."""
    metrics = (spec.get("autoScaling") or {}).get("metrics") or []
    if autoscaler == "keda" and spec.get("scaleMetric"):
        yield Violation(
            obj,
            [*path, "scaleMetric"],
            "scaleMetric is not supported with autoscalerClass keda: use autoScaling.metrics",
        )
    for index, metric in enumerate(metrics):
        here = [*path, "autoScaling", "metrics", index]
        kind = metric.get("type")
        if autoscaler in (None, "hpa") and kind != "Resource":
            yield Violation(
                obj,
                [*here, "type"],
                f"an HPA scales on Resource metrics only, not {kind}: set {AUTOSCALER_ANNOTATION}: keda",
            )
        if kind == "External":
            external = metric.get("external") or {}
            if not (external.get("metric") or {}).get("query"):
                yield Violation(obj, [*here, "external", "metric", "query"], "the query is empty")
            if (external.get("target") or {}).get("value") is None:
                yield Violation(
                    obj,
                    [*here, "external", "target", "value"],
                    "an External metric needs target.value (KEDA's threshold)",
                )


def _mode(obj: dict[str, Any]) -> str | None:
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(MODE_ANNOTATION)
