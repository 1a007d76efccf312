"""The kind suite's cluster plan (kind_install.SUITE_PLAN), checked where no cluster runs: the
order its steps need, and that its worst case, with the suite's other waits, fits the CI job.

Each check reads the plan the suite really runs and returns what is wrong with it; each is shown
to catch a plan broken on purpose (a step removed, moved or without its retry).
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
import yaml

from bundlecheck.render import render
from tests.kind import kind_budget
from tests.kind.bundle_targets import bundle_targets, render_target
from tests.kind.kind_install import (
    DEPLOY_PLAN,
    E2E_NAMESPACE,
    INSTALL_PLAN,
    KSERVE_CLUSTER_RESOURCES,
    KSERVE_CONTROLLERS,
    KSERVE_CRDS,
    KSERVE_FILE,
    KSERVE_NAMESPACE,
    SUITE_PLAN,
    ApplyKustomization,
    ApplyManifests,
    CreateNamespace,
    DeleteNamespace,
    PatchConfigMap,
    Step,
    WaitAvailable,
    WaitEstablished,
    WaitReady,
    Webhook,
    worst_case_s,
)

REPO = Path(__file__).resolve().parents[2]
CI_WORKFLOW = REPO / ".github" / "workflows" / "ci.yml"
# What a new cluster has before the suite touches it.
BUILT_IN_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


# ---- the checks --------------------------------------------------------------------------------


def custom_resources(objects: list[dict]) -> set[str]:
    """The CRDs (``plural.group``) whose objects these are. Kubernetes' own groups have no dot or
    end in .k8s.io; the plural of every kind here is its lower-case name and an s."""
    found = set()
    for obj in objects:
        group = obj["apiVersion"].rpartition("/")[0]
        if "." in group and not group.endswith(".k8s.io"):
            found.add(f"{obj['kind'].lower()}s.{group}")
    return found


def contents(step: Step) -> tuple[set[str], set[str], set[str], set[str], tuple[Webhook, ...]]:
    """What an apply puts in the cluster: CRDs defined, custom resources created, namespaces its
    objects go in, namespaces it carries itself, webhooks it registers."""
    if isinstance(step, ApplyManifests):
        manifests = step.manifests
        return (
            {crd for m in manifests for crd in m.defines},
            {crd for m in manifests for crd in m.creates},
            {ns for m in manifests for ns in m.namespaces},
            {ns for m in manifests for ns in m.carries_namespaces},
            tuple(w for m in manifests for w in m.registers),
        )
    if isinstance(step, ApplyKustomization):  # rendered here, as kubectl apply -k renders it
        return set(), custom_resources(render(step.path).objects), {step.namespace}, set(), ()
    return set(), set(), set(), set(), ()


def namespace_errors(plan: tuple[Step, ...]) -> list[str]:
    """A namespace exists (created, or carried ahead of its content) before anything goes in it."""
    existing, errors = set(BUILT_IN_NAMESPACES), []
    for index, step in enumerate(plan):
        _, _, used, carried, _ = contents(step)
        if isinstance(step, WaitAvailable | WaitReady | PatchConfigMap):
            used = {step.namespace}
        for namespace in sorted(used - existing - carried):
            errors.append(f"step {index} ({type(step).__name__}) uses namespace {namespace} before it exists")
        existing |= carried
        if isinstance(step, CreateNamespace):
            existing.add(step.name)
        if isinstance(step, DeleteNamespace):
            existing.discard(step.name)
    return errors


def crd_errors(plan: tuple[Step, ...]) -> list[str]:
    """A custom resource is applied only once its CRD is Established, and a wait is for a CRD an
    earlier step applied."""
    defined, established, errors = set(), set(), []
    for index, step in enumerate(plan):
        defines, creates, _, _, _ = contents(step)
        for crd in sorted(creates - established):
            errors.append(f"step {index} ({type(step).__name__}) creates {crd} objects before their CRD is Established")
        defined |= defines
        if isinstance(step, WaitEstablished):
            for crd in step.crds:
                if crd not in defined:
                    errors.append(f"step {index} waits for CRD {crd}, which no earlier step applies")
            established |= set(step.crds) & defined
    return errors


def webhook_errors(plan: tuple[Step, ...]) -> list[str]:
    """An apply of objects a webhook admits is retried, after the webhook's server is Available:
    its first calls are refused until the server runs and cainjector has injected its CA."""
    admitted_by: dict[str, Webhook] = {}
    available: set[tuple[str, str]] = set()
    errors = []
    for index, step in enumerate(plan):
        _, creates, _, _, registers = contents(step)
        admitted_by |= {crd: webhook for webhook in registers for crd in webhook.admits}
        for crd in sorted(creates & admitted_by.keys()):
            webhook = admitted_by[crd]
            if step.retry is None:
                errors.append(
                    f"step {index} applies {crd} objects, which {webhook.server}'s webhook admits, without a retry"
                )
            if (webhook.namespace, webhook.server) not in available:
                errors.append(f"step {index} applies {crd} objects before {webhook.server} is Available")
        if isinstance(step, WaitAvailable):
            available |= {(step.namespace, name) for name in step.deployments}
    return errors


def suite_test_timeouts() -> dict[str, int]:
    """Every kind-suite test (an e2e test of tests/kind/test_kind*.py) and its own timeout, read
    from its marks; a test without a body-only timeout is listed as 0, which the budget refuses."""
    timeouts = {}
    for path in sorted(Path(__file__).parent.glob("test_kind*.py")):
        module = importlib.import_module(f"tests.kind.{path.stem}")
        module_marks = getattr(module, "pytestmark", [])
        if not any(mark.name == "e2e" for mark in (module_marks if isinstance(module_marks, list) else [module_marks])):
            continue
        for name, test in vars(module).items():
            if name.startswith("test_") and callable(test):
                marks = [m for m in getattr(test, "pytestmark", []) if m.name == "timeout"]
                body_only = marks and marks[0].kwargs.get("func_only") is True
                timeouts[f"{path.stem}::{name}"] = int(marks[0].args[0]) if body_only else 0
    return timeouts


def budget(plan: tuple[Step, ...], tests: dict[str, int]) -> dict[str, int]:
    """Every worst case of the job, by name: the job's own steps, the fixtures' waits, the plan,
    and each test's body."""
    return {**kind_budget.JOB_WAITS_S, **kind_budget.FIXTURE_WAITS_S, "cluster plan": worst_case_s(plan), **tests}


def budget_errors(plan: tuple[Step, ...], tests: dict[str, int], limit_minutes: int) -> list[str]:
    errors = [
        f"{name} times more than its body (add @pytest.mark.timeout(..., func_only=True))"
        for name, seconds in tests.items()
        if seconds == 0
    ]
    waits = budget(plan, tests)
    total = sum(waits.values())
    if total + kind_budget.MARGIN_S > limit_minutes * 60:
        table = "\n".join(f"  {seconds:6d} s  {name}" for name, seconds in waits.items())
        errors.append(
            f"the worst case, {total} s, plus {kind_budget.MARGIN_S} s of margin passes the job's "
            f"{limit_minutes} minutes:\n{table}"
        )
    return errors


def without(plan: tuple[Step, ...], step: Step) -> tuple[Step, ...]:
    assert step in plan
    return tuple(s for s in plan if s != step)


def replaced(plan: tuple[Step, ...], step: Step, new: Step) -> tuple[Step, ...]:
    assert step in plan
    return tuple(new if s == step else s for s in plan)


def step_applying(manifest) -> ApplyManifests:
    return next(s for s in SUITE_PLAN if isinstance(s, ApplyManifests) and manifest in s.manifests)


BUNDLE_APPLY = next(s for s in DEPLOY_PLAN if isinstance(s, ApplyKustomization))


# ---- the real plan -----------------------------------------------------------------------------


def test_should_create_each_namespace_before_anything_goes_in_it():
    assert namespace_errors(SUITE_PLAN) == []


def test_should_wait_for_each_crd_to_be_established_before_its_custom_resources():
    assert crd_errors(SUITE_PLAN) == []


def test_should_retry_each_apply_a_webhook_admits_after_its_server_is_available():
    assert webhook_errors(SUITE_PLAN) == []


def test_should_install_the_crd_of_every_custom_kind_the_bundle_renders():
    """make validate's renders (but the GitOps examples) are what the dry-run test applies."""
    installed = {crd for step in INSTALL_PLAN if isinstance(step, WaitEstablished) for crd in step.crds}
    rendered = {target: custom_resources(render_target(target).objects) for target in bundle_targets()}
    missing = {target: sorted(crds - installed) for target, crds in rendered.items() if crds - installed}
    assert missing == {}
    # Each third-party kind the components use is among them.
    assert {
        "externalsecrets.external-secrets.io",
        "sealedsecrets.bitnami.com",
        "podmonitors.monitoring.coreos.com",
        "prometheusrules.monitoring.coreos.com",
    } <= set().union(*rendered.values())


def test_should_fit_the_worst_case_in_the_ci_jobs_time_limit():
    assert budget_errors(SUITE_PLAN, suite_test_timeouts(), kind_budget.JOB_TIMEOUT_MINUTES) == []


def test_should_size_the_suite_for_the_e2e_jobs_time_limit_in_ci_yml():
    job = yaml.safe_load(CI_WORKFLOW.read_text())["jobs"]["e2e"]
    assert job["timeout-minutes"] == kind_budget.JOB_TIMEOUT_MINUTES


def test_should_time_every_kind_suite_test_body():
    timeouts = suite_test_timeouts()
    assert "test_kind::test_should_leave_nothing_behind_after_kubectl_delete_k" in timeouts
    assert "test_kind_dry_run::test_should_pass_the_api_servers_admission_for_every_overlay_and_component" in timeouts
    assert all(seconds > 0 for seconds in timeouts.values()), timeouts


# ---- each check catches a broken plan ----------------------------------------------------------


def test_should_catch_kserves_namespace_never_created():
    broken = without(SUITE_PLAN, CreateNamespace(KSERVE_NAMESPACE))
    assert any("uses namespace kserve before it exists" in e for e in namespace_errors(broken))


def test_should_catch_the_bundles_namespace_deleted_after_it_is_created():
    delete, create = DeleteNamespace(E2E_NAMESPACE), next(s for s in DEPLOY_PLAN if isinstance(s, CreateNamespace))
    broken = tuple(s for s in SUITE_PLAN if s not in (delete, create))
    broken = broken[: broken.index(BUNDLE_APPLY)] + (create, delete) + broken[broken.index(BUNDLE_APPLY) :]
    assert any(f"uses namespace {E2E_NAMESPACE} before it exists" in e for e in namespace_errors(broken))


def test_should_catch_kserves_crds_applied_without_waiting_for_them():
    broken = without(SUITE_PLAN, WaitEstablished(KSERVE_CRDS))
    errors = crd_errors(broken)
    assert any(
        "creates clusterstoragecontainers.serving.kserve.io objects before their CRD is Established" in e
        for e in errors
    ), errors


def test_should_catch_a_wait_for_crds_before_they_are_applied():
    wait = WaitEstablished(KSERVE_CRDS)
    broken = without(SUITE_PLAN, wait)
    broken = (broken[0], wait, *broken[1:])
    assert any(
        "waits for CRD inferenceservices.serving.kserve.io, which no earlier step applies" in e
        for e in crd_errors(broken)
    )


def test_should_catch_the_bundle_deployed_before_kserve_is_installed():
    broken = (*INSTALL_PLAN[:1], *DEPLOY_PLAN, *INSTALL_PLAN[1:])
    errors = crd_errors(broken)
    assert any(
        "creates inferenceservices.serving.kserve.io objects before their CRD is Established" in e for e in errors
    ), errors


def test_should_catch_kserve_yaml_applied_without_a_retry():
    step = step_applying(KSERVE_FILE)
    broken = replaced(SUITE_PLAN, step, dataclasses.replace(step, retry=None))
    assert any(
        "applies certificates.cert-manager.io objects, which cert-manager-webhook's webhook admits, without a "
        "retry" in e
        for e in webhook_errors(broken)
    )


def test_should_catch_the_bundle_applied_without_a_retry():
    broken = replaced(SUITE_PLAN, BUNDLE_APPLY, dataclasses.replace(BUNDLE_APPLY, retry=None))
    assert any(
        "applies inferenceservices.serving.kserve.io objects, which kserve-controller-manager's webhook "
        "admits, without a retry" in e
        for e in webhook_errors(broken)
    )


def test_should_catch_the_cluster_resources_applied_before_kserves_webhooks_serve():
    broken = without(SUITE_PLAN, WaitAvailable(KSERVE_NAMESPACE, KSERVE_CONTROLLERS))
    errors = webhook_errors(broken)
    assert any(
        "applies llminferenceserviceconfigs.serving.kserve.io objects before llmisvc-controller-manager is "
        "Available" in e
        for e in errors
    ), errors
    assert step_applying(KSERVE_CLUSTER_RESOURCES).retry is not None


def test_should_catch_a_test_that_times_its_fixtures_too():
    errors = budget_errors(SUITE_PLAN, {"test_kind::test_x": 0}, kind_budget.JOB_TIMEOUT_MINUTES)
    assert errors == ["test_kind::test_x times more than its body (add @pytest.mark.timeout(..., func_only=True))"]


@pytest.mark.parametrize("minutes", [60, 100])
def test_should_catch_a_plan_that_outlasts_the_job(minutes):
    errors = budget_errors(SUITE_PLAN, suite_test_timeouts(), minutes)
    assert len(errors) == 1 and f"passes the job's {minutes} minutes" in errors[0], errors
    assert "cluster plan" in errors[0] and "image build" in errors[0]


def test_should_catch_a_rollout_wait_that_outgrows_the_job():
    rollout = next(s for s in DEPLOY_PLAN if isinstance(s, WaitReady))
    broken = replaced(SUITE_PLAN, rollout, dataclasses.replace(rollout, timeout_s=rollout.timeout_s + 3600))
    assert budget_errors(SUITE_PLAN, suite_test_timeouts(), kind_budget.JOB_TIMEOUT_MINUTES) == []
    assert budget_errors(broken, suite_test_timeouts(), kind_budget.JOB_TIMEOUT_MINUTES) != []
