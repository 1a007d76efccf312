"""base.py: the registry gives each policy's findings the policy's id; a policy yields only what it
found (an object, a field path, a message)."""

from __future__ import annotations

from typing import Any

import pytest

from bundlecheck.findings import Finding, Status
from bundlecheck.policies import POLICIES, Context
from bundlecheck.policies.base import REGISTRY, Policy, Violation, policy

SECRET = {"kind": "Secret", "metadata": {"name": "s", "namespace": "ns"}, "stringData": {"k": "v"}}


def test_a_policys_findings_should_carry_its_id_and_the_paths_as_reports_write_them() -> None:
    found = Policy("demo", "why", lambda context: [Violation(SECRET, ["stringData", "k.v"], "has data")])
    assert list(found.check(Context([SECRET]))) == [
        Finding("demo", "Secret/ns/s", 'stringData["k.v"]', "has data", Status.VIOLATION)
    ]


def test_a_policy_id_should_be_registered_once() -> None:
    before = dict(REGISTRY)
    with pytest.raises(ValueError, match="registered twice"):
        policy("image-pinned", "again")(lambda context: [])
    assert before == REGISTRY


def test_every_registered_policy_should_report_under_its_own_id(cpu_objects: list[dict[str, Any]]) -> None:
    # Without the components' Secrets, and with a Secret carrying data, some policies find something.
    objects = [*cpu_objects, SECRET]
    found = {policy_id: list(registered.check(Context(objects))) for policy_id, registered in POLICIES.items()}
    assert found["no-secret-data"] and found["secret-ref-resolves"]
    assert all(finding.check == policy_id for policy_id, findings in found.items() for finding in findings)
