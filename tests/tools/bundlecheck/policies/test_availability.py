"""policies/availability.py: PodDisruptionBudgets and NetworkPolicies select the predictor pods by
the labels KServe gives them, and never block a drain or the serving port."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_every_new_policy_passes_the_replicated_bundle(ha_objects) -> None:
    for policy_id in (
        "service-account-token",
        "grace-period",
        "container-hardening",
        "api-key-secret",
        "storage-initializer-cache",
        "disruption-budget",
        "network-policy",
    ):
        assert findings(policy_id, ha_objects) == [], policy_id


def pdb(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "PodDisruptionBudget")["spec"]


@pytest.mark.parametrize(
    ("budget", "blocking_field"),
    [
        ({"maxUnavailable": 0}, "spec.maxUnavailable"),
        ({"maxUnavailable": "0%"}, "spec.maxUnavailable"),
        ({"minAvailable": "100%"}, "spec.minAvailable"),
        ({"minAvailable": "60%"}, "spec.minAvailable"),  # ceil(1.2) = 2 of 2 replicas
        ({"minAvailable": 1}, None),
        ({"minAvailable": "50%"}, None),
        ({"maxUnavailable": "10%"}, None),  # rounded up: one pod
    ],
)
def test_disruption_budget_must_leave_an_eviction_at_min_replicas(
    ha_objects, budget: dict[str, Any], blocking_field: str | None
) -> None:
    objects = copy.deepcopy(ha_objects)
    spec = pdb(objects)
    del spec["maxUnavailable"]
    spec.update(budget)
    expected = [("PodDisruptionBudget/reranker-model-predictor", blocking_field)]
    assert findings("disruption-budget", objects) == (expected if blocking_field else [])


def test_disruption_budget_over_one_replica_or_unready_pods_is_reported(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    the(objects, "InferenceService")["spec"]["predictor"]["minReplicas"] = 1
    del pdb(objects)["unhealthyPodEvictionPolicy"]
    assert findings("disruption-budget", objects) == [
        ("PodDisruptionBudget/reranker-model-predictor", "spec"),
        ("PodDisruptionBudget/reranker-model-predictor", "spec.unhealthyPodEvictionPolicy"),
    ]


def test_two_budgets_on_the_same_pods_are_reported(ha_objects) -> None:
    second = copy.deepcopy(the(ha_objects, "PodDisruptionBudget"))
    second["metadata"]["name"] = "another"
    assert findings("disruption-budget", [*ha_objects, second]) == [("PodDisruptionBudget/another", "spec.selector")]


def test_budget_selects_by_every_label_kserve_gives_the_pods(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    the(objects, "InferenceService")["metadata"]["labels"] = {"team": "search"}
    pdb(objects)["selector"] = {
        "matchLabels": {"app": "isvc.reranker-model-predictor"},
        "matchExpressions": [{"key": "team", "operator": "In", "values": ["search"]}],
    }
    assert findings("disruption-budget", objects) == []
    pdb(objects)["selector"]["matchExpressions"][0]["operator"] = "NotIn"
    assert findings("disruption-budget", objects) == [("PodDisruptionBudget/reranker-model-predictor", "spec.selector")]


def netpol(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return the(objects, "NetworkPolicy")["spec"]


@pytest.mark.parametrize(
    ("ports", "admitted"),
    [
        ([{"port": 8080}], True),
        ([{"port": "http1", "protocol": "TCP"}], True),
        ([{"port": 8000, "endPort": 9000}], True),
        ([{"protocol": "TCP"}], True),  # every TCP port
        ([{"port": 9090}], False),
        ([{"port": "http1", "protocol": "UDP"}], False),
    ],
)
def test_network_policy_must_admit_the_serving_port(ha_objects, ports: list[dict[str, Any]], admitted: bool) -> None:
    objects = copy.deepcopy(ha_objects)
    for rule in netpol(objects)["ingress"]:
        rule["ports"] = ports
    expected = [] if admitted else [("NetworkPolicy/reranker-model-predictor", "spec.ingress")]
    assert findings("network-policy", objects) == expected


def test_network_policy_without_ingress_rules_drops_every_request(ha_objects) -> None:
    objects = copy.deepcopy(ha_objects)
    del netpol(objects)["ingress"]
    assert findings("network-policy", objects) == [("NetworkPolicy/reranker-model-predictor", "spec.ingress")]
    netpol(objects)["policyTypes"] = ["Egress"]
    assert findings("network-policy", objects) == [("NetworkPolicy/reranker-model-predictor", "spec.policyTypes")]
