"""predictor_labels.py: the labels KServe gives predictor pods, and the label selectors that must
pick them."""

from __future__ import annotations

import pytest

from bundlecheck.kserve.predictor_labels import predictor_labels, predictor_pods, selector_matches

RUNTIME = {
    "kind": "ServingRuntime",
    "metadata": {"name": "r"},
    "spec": {"labels": {"tier": "runtime", "team": "x"}, "containers": [{"name": "kserve-container", "args": ["-a"]}]},
}


def isvc(**predictor) -> dict:
    return {
        "kind": "InferenceService",
        "metadata": {"name": "m", "labels": {"team": "search"}},
        "spec": {"predictor": predictor},
    }


def test_kserves_labels_should_win_over_the_inferenceservices_and_the_runtimes() -> None:
    labels = predictor_labels(isvc(labels={"component": "mine"}), RUNTIME)
    assert labels == {
        "tier": "runtime",
        "team": "search",
        "serving.kserve.io/inferenceservice": "m",
        "component": "predictor",
        "app": "isvc.m-predictor",
    }
    assert predictor_labels(isvc(name="fast"))["app"] == "isvc.m-fast-predictor"


def test_each_predictor_should_have_a_replica_floor_and_its_merged_container() -> None:
    with_runtime, without = predictor_pods([RUNTIME, isvc(model={"runtime": "r", "args": ["-b"]}), isvc(minReplicas=3)])
    assert with_runtime.min_replicas == 1  # KServe's default
    assert with_runtime.container["args"] == ["-a", "-b"]
    assert (without.min_replicas, without.container) == (3, {})


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        (None, True),
        ({"matchLabels": {"team": "search"}}, True),
        ({"matchLabels": {"team": "ads"}}, False),
        ({"matchExpressions": [{"key": "team", "operator": "In", "values": ["search", "ads"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["search"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}, False),
    ],
)
def test_a_selector_should_match_as_kubernetes_matches_it(selector, selected: bool) -> None:
    assert selector_matches(selector, {"team": "search", "app": "isvc.m-predictor"}) is selected
