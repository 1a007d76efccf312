"""PodDisruptionBudgets and NetworkPolicies: they must select the predictor pods KServe creates,
and must not stop what they exist to allow (node drains, traffic to the serving port)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ..kserve.predictor_labels import PredictorPod, predictor_pods, selector_matches
from .base import Context, Violation, policy

ALWAYS_ALLOW = "AlwaysAllow"


@policy(
    "disruption-budget",
    "a PodDisruptionBudget must select the predictor pods and never block a node drain: at "
    "least one pod evictable at minReplicas, not-Ready pods evictable, one budget per pod",
)
def check_disruption_budget(context: Context) -> Iterator[Violation]:
    budgets = [o for o in context.objects if o.get("kind") == "PodDisruptionBudget"]
    predictors = list(predictor_pods(context.objects))
    if not predictors:
        return
    selecting: dict[int, list[dict[str, Any]]] = {}
    for budget in budgets:
        spec = budget.get("spec") or {}
        selected = [p for p in predictors if selector_matches(spec.get("selector"), p.labels)]
        if not selected:
            yield Violation(
                budget,
                ["spec", "selector"],
                f"selects no predictor pod of this bundle ({_names(predictors)}): it protects nothing",
            )
            continue
        for pod in selected:
            selecting.setdefault(id(pod.isvc), []).append(budget)
            yield from _budget_findings(budget, spec, pod)
    for pod in predictors:
        found = selecting.get(id(pod.isvc), [])
        for budget in found[1:]:
            # The eviction API refuses to evict a pod that more than one budget selects.
            yield Violation(
                budget,
                ["spec", "selector"],
                f"{pod.isvc['metadata']['name']}'s predictor pods are also selected by "
                f"PodDisruptionBudget {found[0]['metadata']['name']}: with two budgets no "
                "eviction succeeds and every drain hangs",
            )


def _budget_findings(budget: dict[str, Any], spec: dict[str, Any], pod: PredictorPod):
    name = pod.isvc["metadata"]["name"]
    replicas = pod.min_replicas
    if replicas < 2:
        yield Violation(
            budget,
            ["spec"],
            f"{name} runs minReplicas {replicas}: a budget cannot keep a single replica up "
            "through a drain; set minReplicas >= 2 (components/high-availability) or drop it",
        )
    if "maxUnavailable" in spec:
        allowed = _scaled(spec["maxUnavailable"], max(replicas, 1), round_up=True)
        if allowed is not None and allowed < 1:
            yield Violation(
                budget,
                ["spec", "maxUnavailable"],
                f"maxUnavailable {spec['maxUnavailable']!r} allows no eviction: every node "
                "drain hangs; use maxUnavailable: 1",
            )
    if "minAvailable" in spec:
        required = _scaled(spec["minAvailable"], max(replicas, 1), round_up=True)
        if required is not None and required >= max(replicas, 1):
            yield Violation(
                budget,
                ["spec", "minAvailable"],
                f"minAvailable {spec['minAvailable']!r} with {name}'s minReplicas {replicas} "
                "allows no eviction at that scale: a node drain hangs; use maxUnavailable: 1",
            )
    if spec.get("unhealthyPodEvictionPolicy") != ALWAYS_ALLOW:
        yield Violation(
            budget,
            ["spec", "unhealthyPodEvictionPolicy"],
            "a pod that is not Ready (crash-looping, loading the model) counts against the "
            f"budget and holds the drain; set unhealthyPodEvictionPolicy: {ALWAYS_ALLOW}",
        )


def _scaled(value: Any, total: int, round_up: bool) -> int | None:
    """An IntOrString against a pod count, as the disruption controller scales it."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%") and text[:-1].isdigit():
        exact = int(text[:-1]) * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text) if text.isdigit() else None  # anything else: the schema check reports it


@policy(
    "network-policy",
    "a NetworkPolicy in the bundle must select the predictor pods and admit traffic to their "
    "serving port, or it either protects nothing or drops every request",
)
def check_network_policy(context: Context) -> Iterator[Violation]:
    predictors = [p for p in predictor_pods(context.objects)]
    if not predictors:
        return
    for netpol in (o for o in context.objects if o.get("kind") == "NetworkPolicy"):
        spec = netpol.get("spec") or {}
        selected = [p for p in predictors if selector_matches(spec.get("podSelector"), p.labels)]
        if not selected:
            yield Violation(
                netpol,
                ["spec", "podSelector"],
                f"selects no predictor pod of this bundle ({_names(predictors)}): their ingress stays open",
            )
            continue
        types = spec.get("policyTypes") or ["Ingress"]
        if "Ingress" not in types:
            yield Violation(
                netpol,
                ["spec", "policyTypes"],
                "does not restrict Ingress: the predictor pods stay open to every namespace",
            )
            continue
        for pod in selected:
            if not any(_admits_port(rule, pod.container) for rule in spec.get("ingress") or []):
                yield Violation(
                    netpol,
                    ["spec", "ingress"],
                    f"no ingress rule admits {pod.isvc['metadata']['name']}'s serving port "
                    f"({_port_text(pod.container)}): every request would be dropped",
                )


def _admits_port(rule: dict[str, Any], container: dict[str, Any]) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True  # a rule without ports admits every port
    serving = (container.get("ports") or [{}])[0]
    for port in ports:
        if port.get("protocol", "TCP") != serving.get("protocol", "TCP"):
            continue
        number, end = port.get("port"), port.get("endPort")
        if number is None:
            return True  # every port of that protocol
        if number in (serving.get("name"), serving.get("containerPort")):
            return True
        if (
            isinstance(number, int)
            and isinstance(end, int)
            and number <= int(serving.get("containerPort") or -1) <= end
        ):
            return True
    return not serving  # no declared port: nothing to compare with


def _port_text(container: dict[str, Any]) -> str:
    serving = (container.get("ports") or [{}])[0]
    return f"{serving.get('name', '?')}/{serving.get('containerPort', '?')}"


def _names(predictors: list[PredictorPod]) -> str:
    return ", ".join(sorted(p.isvc["metadata"]["name"] for p in predictors))
