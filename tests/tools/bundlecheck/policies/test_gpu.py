"""policies/gpu.py: a GPU pod selects GPU nodes and tolerates their taint, wherever KServe takes
the placement from."""

from __future__ import annotations

import copy

from bundlecheck.render import render
from tests.tools.bundlecheck.policies.bundle_objects import REPO, findings, the


def test_gpu_product_in_required_node_affinity_counts_as_selector() -> None:
    a100 = render(REPO / "overlays/a100").objects
    predictor = the(a100, "InferenceService")["spec"]["predictor"]
    product = predictor.pop("nodeSelector")["nvidia.com/gpu.product"]
    assert findings("gpu-placement", a100) == [("InferenceService/reranker-model", "spec.predictor.nodeSelector")]
    predictor["affinity"] = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": [product]}]}
                ]
            }
        }
    }
    assert findings("gpu-placement", a100) == []


def test_runtime_placement_applies_to_the_predictor_pod() -> None:
    a100 = copy.deepcopy(render(REPO / "overlays/a100").objects)
    predictor = the(a100, "InferenceService")["spec"]["predictor"]
    runtime_spec = the(a100, "ServingRuntime")["spec"]
    runtime_spec["tolerations"] = predictor.pop("tolerations")
    assert findings("gpu-placement", a100) == []
