"""Each broken kustomization (a real overlay plus one defect) fails with the expected check at
the expected field, and every policy has at least one such case. The schemas come from the
``schema_dirs`` fixture (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlecheck.check import CheckOptions, check_target
from bundlecheck.findings import SCHEMA, Status
from bundlecheck.policies import POLICIES
from bundlecheck.schemas.catalog import DirectoryCatalog
from bundlecheck.schemas.checker import SchemaChecker
from bundlecheck.schemas.crds import from_directory

REPO = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).resolve().parent / "broken"

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
    "server-flags-unknown": ("server-flags", "spec.predictor.model.args[7]"),
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
    "schema-third-party-unknown-field": (SCHEMA, "spec.syncPolicy.automated.pruneAll"),
    "service-account-token-mounted": (
        "service-account-token",
        "spec.predictor.automountServiceAccountToken",
    ),
    "container-hardening-writable-root": (
        "container-hardening",
        "spec.container.securityContext.readOnlyRootFilesystem",
    ),
    "storage-initializer-cache-in-home": ("storage-initializer-cache", "spec.container.env"),
    "grace-period-too-short": (
        "grace-period",
        "spec.predictor.terminationGracePeriodSeconds",
    ),
    "api-key-literal": ("api-key-secret", "spec.containers[0].env[3].value"),
    "api-key-in-args": ("api-key-secret", "spec.predictor.model.args[7]"),
    "disruption-budget-blocks-drain": ("disruption-budget", "spec.minAvailable"),
    "network-policy-selects-nothing": ("network-policy", "spec.podSelector"),
    "model-fit-unclaimed-overlay": (
        "model-fit",
        'metadata.annotations["kserve-reranker.example.com/fits-overlays"]',
    ),
    "model-fit-length-overridden": ("model-fit", "spec.predictor.model.args"),
    "oci-digest-tagged": ("oci-digest", "spec.predictor.model.storageUri"),
    "hf-token-unneeded": ("hf-token-needed", ""),
    "model-source-listed-before-model": ("model-source", "spec.predictor.model.storageUri"),
    "model-cache-on-cpu": ("model-cache", "spec.predictor.nodeSelector"),
    "model-cache-uri-mismatch": ("model-cache", "spec.sourceModelUri"),
    "model-cache-renamed": ("model-cache", "spec.predictor.storageContainerName"),
}
# Cases whose one defect another policy sees too: the model component listed after the source
# brings back an hf:// URI that no storage container is named for any more.
ALSO_BREAKS = {"model-source-listed-before-model": {"storage-container"}}


@pytest.fixture(scope="module")
def schemas(schema_dirs) -> SchemaChecker:
    kserve_crds, crd_schemas = schema_dirs.both
    return SchemaChecker(from_directory(kserve_crds), catalog=DirectoryCatalog(crd_schemas))


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

    report = check(case, schemas)
    violations = report.with_status(Status.VIOLATION)

    assert expected in {(f.check, f.path) for f in violations}, violations
    assert not report.with_status(Status.NOT_CHECKED)


@pytest.mark.parametrize("case", [c for c, (check_id, _) in EXPECTED.items() if check_id not in (SCHEMA,)])
def test_broken_case_breaks_only_the_expected_policy(case: str, schemas: SchemaChecker) -> None:
    # One defect per case: the other policies still pass, so each case proves its own policy.
    violations = check(case, schemas).with_status(Status.VIOLATION)
    assert {f.check for f in violations} == {EXPECTED[case][0], *ALSO_BREAKS.get(case, ())}, violations


@pytest.mark.parametrize("case", ["image-pinned-latest", "scaling-min-above-max"])
def test_skipped_policy_is_reported_as_waived(case: str, schemas: SchemaChecker) -> None:
    policy_id, path = EXPECTED[case]

    report = check(case, schemas, skip=frozenset({policy_id}))

    assert [(f.status, f.check, f.path) for f in report.findings] == [(Status.WAIVED, policy_id, path)]
