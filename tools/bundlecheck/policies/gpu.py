"""GPU requests and GPU node placement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..kserve.workloads import Pod, pods
from ..nvidia import GPU_PRODUCT_LABEL, GPU_RESOURCE, GPU_TAINT_KEY, requests_gpu
from .base import Context, Violation, policy


@policy(
    "gpu-request",
    "GPUs are whole devices that cannot be overcommitted: request an integer count, limit = request",
)
def check_gpu_request(context: Context) -> Iterator[Violation]:
    for pod in pods(context.objects):
        for container in pod.containers:
            resources = container.spec.get("resources") or {}
            request = (resources.get("requests") or {}).get(GPU_RESOURCE)
            limit = (resources.get("limits") or {}).get(GPU_RESOURCE)
            if request is None and limit is None:
                continue
            path = [*container.path, "resources"]
            for kind, value in (("requests", request), ("limits", limit)):
                if value is None:
                    yield Violation(
                        pod.obj,
                        [*path, kind, GPU_RESOURCE],
                        f"{GPU_RESOURCE} is set in only one of requests/limits; set both to the same whole number",
                    )
                elif _whole_gpus(value) is None:
                    yield Violation(
                        pod.obj,
                        [*path, kind, GPU_RESOURCE],
                        f"{GPU_RESOURCE} must be a positive whole number, not {value!r}",
                    )
            whole_request, whole_limit = _whole_gpus(request), _whole_gpus(limit)
            if whole_request and whole_limit and whole_request != whole_limit:
                yield Violation(
                    pod.obj,
                    [*path, "requests", GPU_RESOURCE],
                    f"{GPU_RESOURCE} request {request} differs from limit {limit}",
                )


@policy(
    "gpu-placement",
    "a GPU pod must select GPU nodes (nvidia.com/gpu.product) and tolerate their "
    "nvidia.com/gpu NoSchedule taint; a pod without GPUs must do neither",
)
def check_gpu_placement(context: Context) -> Iterator[Violation]:
    for pod in pods(context.objects):
        wants_gpu = any(requests_gpu(c.spec) for c in pod.containers)
        selects, tolerates = _selects_gpu_nodes(pod), _tolerates_gpu_taint(pod)
        if wants_gpu and not selects:
            yield Violation(
                pod.obj,
                [*pod.path, "nodeSelector"],
                f"requests {GPU_RESOURCE} but selects no GPU product: add nodeSelector "
                f"{GPU_PRODUCT_LABEL} (or a required node affinity on it)",
            )
        if wants_gpu and not tolerates:
            yield Violation(
                pod.obj,
                [*pod.path, "tolerations"],
                f"requests {GPU_RESOURCE} but does not tolerate the {GPU_TAINT_KEY}:NoSchedule taint of GPU nodes",
            )
        if not wants_gpu and selects:
            yield Violation(
                pod.obj,
                [*pod.path, "nodeSelector"],
                f"requests no GPU but selects GPU nodes by {GPU_PRODUCT_LABEL}",
            )
        if not wants_gpu and tolerates:
            yield Violation(
                pod.obj,
                [*pod.path, "tolerations"],
                f"requests no GPU but tolerates the {GPU_TAINT_KEY} taint (it would hold a GPU node's CPU and memory)",
            )


def _whole_gpus(value: Any) -> int | None:
    text = str(value)
    return int(text) if text.isdigit() and int(text) > 0 else None


def _selects_gpu_nodes(pod: Pod) -> bool:
    if GPU_PRODUCT_LABEL in (pod.fields.get("nodeSelector") or {}):
        return True
    required = ((pod.fields.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    return any(
        expression.get("key") == GPU_PRODUCT_LABEL
        for term in required.get("nodeSelectorTerms") or []
        for expression in term.get("matchExpressions") or []
    )


def _tolerates_gpu_taint(pod: Pod) -> bool:
    return any(
        toleration.get("key") == GPU_TAINT_KEY and toleration.get("effect") in (None, "", "NoSchedule")
        for toleration in pod.fields.get("tolerations") or []
    )
