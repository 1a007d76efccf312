"""Each broken kustomization (a real overlay plus one defect) fails with the expected check at
the expected field, and every policy has at least one such case."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlecheck.check import CheckOptions, check_target
from bundlecheck.crds import from_directory
from bundlecheck.findings import SCHEMA, Status
from bundlecheck.policies import POLICIES
from bundlecheck.schemas import SchemaChecker

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"
KSERVE_CRDS = REPO.parent / "shared" / "kserve-crds"

# case directory: (check id, field path of the violation)
EXPECTED = {
    "gpu-request-unequal": (
        "gpu-request",
        'spec.predictor.model.resources.requests["nvidia.com/gpu"]',
    ),
    "gpu-placement-no-toleration": ("gpu-placement", "spec.predictor.tolerations"),
    "gpu-placement-cpu-on-gpu-nodes": ("gpu-placement", "spec.predictor.nodeSelector"),
    "image-pinned-latest": ("image-pinned", "spec.containers[0].image"),
    "no-secret-data": ("no-secret-data", "stringData"),
    "secret-ref-unresolved": (
        "secret-ref-resolves",
        "spec.container.env[0].valueFrom.secretKeyRef.name",
    ),
    "storage-uri-unpinned": ("storage-uri-pinned", "spec.predictor.model.storageUri"),
    "storage-container-unpinned": ("storage-container", "spec.predictor.model.storageUri"),
    "deployment-mode-missing": (
        "deployment-mode",
        'metadata.annotations["serving.kserve.io/deploymentMode"]',
    ),
    "scaling-min-above-max": ("scaling", "spec.predictor.minReplicas"),
    "server-flags-unknown": ("server-flags", "spec.predictor.model.args[6]"),
    "server-flags-bad-value": ("server-flags", "spec.predictor.model.args"),
    "non-root-privilege-escalation": (
        "non-root",
        "spec.predictor.model.securityContext.allowPrivilegeEscalation",
    ),
    "requests-above-limits": (
        "requests-within-limits",
        "spec.predictor.model.resources.requests.memory",
    ),
    "schema-unknown-field": (SCHEMA, "spec.predictor.model.storageContainerName"),
    "schema-kserve-kind-unknown": (SCHEMA, ""),
}


@pytest.fixture(scope="module")
def schemas() -> SchemaChecker:
    if not KSERVE_CRDS.is_dir():
        pytest.skip(f"the KServe CRDs test data is not at {KSERVE_CRDS}")
    return SchemaChecker(from_directory(KSERVE_CRDS))


def check(case: str, schemas: SchemaChecker, skip: frozenset[str] = frozenset()):
    options = CheckOptions(
        schemas=schemas,
        skip=set(skip),
        components_dir=REPO / "components",
    )
    report = check_target(BROKEN / case, options)
    assert report.error is None, report.error
    return report


def test_every_policy_has_a_broken_case() -> None:
    covered = {check for check, _ in EXPECTED.values()}
    assert covered == {SCHEMA, *POLICIES}


def test_every_broken_directory_has_an_expectation() -> None:
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_broken_case_fails_with_expected_check_and_path(case: str, schemas: SchemaChecker) -> None:
    expected = EXPECTED[case]

    violations = check(case, schemas).with_status(Status.VIOLATION)

    assert expected in {(f.check, f.path) for f in violations}, violations


@pytest.mark.parametrize("case", ["image-pinned-latest", "scaling-min-above-max"])
def test_skipped_policy_is_reported_as_waived(case: str, schemas: SchemaChecker) -> None:
    policy_id, path = EXPECTED[case]

    report = check(case, schemas, skip=frozenset({policy_id}))

    assert [(f.status, f.check, f.path) for f in report.findings] == [
        (Status.WAIVED, policy_id, path)
    ]
