"""policies/modes.py: one deployment mode per bundle, and scaling its autoscaler can honour."""

from __future__ import annotations

import copy

from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_mixed_deployment_modes_are_reported(cpu_objects) -> None:
    second = copy.deepcopy(the(cpu_objects, "InferenceService"))
    second["metadata"]["name"] = "other"
    second["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Knative"
    assert {obj for obj, _ in findings("deployment-mode", [*cpu_objects, second])} == {
        "InferenceService/reranker-model",
        "InferenceService/other",
    }


def test_scale_to_zero_in_standard_mode_needs_keda(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    isvc = the(objects, "InferenceService")
    isvc["spec"]["predictor"]["minReplicas"] = 0
    assert findings("scaling", objects) == [("InferenceService/reranker-model", "spec.predictor.minReplicas")]
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    assert findings("scaling", objects) == []


def test_keda_autoscaling_follows_kserves_webhook_rules(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    isvc = the(objects, "InferenceService")
    predictor = isvc["spec"]["predictor"]
    predictor["autoScaling"] = {"metrics": [{"type": "External", "external": {"metric": {"backend": "prometheus"}}}]}
    predictor["scaleMetric"] = "cpu"
    metric = "spec.predictor.autoScaling.metrics[0]"
    # The default autoscaler (an HPA) scales on Resource metrics only.
    assert ("InferenceService/reranker-model", f"{metric}.type") in findings("scaling", objects)
    isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] = "keda"
    assert sorted(findings("scaling", objects)) == [
        ("InferenceService/reranker-model", f"{metric}.external.metric.query"),
        ("InferenceService/reranker-model", f"{metric}.external.target.value"),
        ("InferenceService/reranker-model", "spec.predictor.scaleMetric"),
    ]
