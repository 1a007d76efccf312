"""policies/pods.py: the predictor pod gets no API token and a grace period the server's shutdown fits."""

from __future__ import annotations

import copy

from bundlecheck.policies import POLICIES, Context
from tests.tools.bundlecheck.policies.bundle_objects import findings, the


def test_grace_period_reads_the_servers_env_and_its_defaults(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    runtime = the(objects, "ServingRuntime")["spec"]["containers"][0]
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    # Without the flags the server's defaults apply: 5 + 20 + 5 fits the 30 s given.
    runtime["args"] = [a for a in runtime["args"] if not a.startswith(("--drain", "--request"))]
    assert findings("grace-period", objects) == []
    # A variable counts as the server counts it (a flag would win over it).
    runtime["env"].append({"name": "RERANKER_REQUEST_TIMEOUT", "value": "60"})
    assert findings("grace-period", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.terminationGracePeriodSeconds")
    ]
    predictor["terminationGracePeriodSeconds"] = 70
    assert findings("grace-period", objects) == []
    # No grace period at all: Kubernetes' 30 s.
    del predictor["terminationGracePeriodSeconds"]
    (finding,) = POLICIES["grace-period"].check(Context(objects))
    assert "Kubernetes' default" in finding.message and "= 70 s" in finding.message


def test_service_account_token_must_be_off_for_every_component(cpu_objects) -> None:
    objects = copy.deepcopy(cpu_objects)
    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    del predictor["automountServiceAccountToken"]  # unset: Kubernetes mounts it
    assert findings("service-account-token", objects) == [
        ("InferenceService/reranker-model", "spec.predictor.automountServiceAccountToken")
    ]
