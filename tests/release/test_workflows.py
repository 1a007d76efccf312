"""The GitHub Actions workflows and the Dependabot configuration: linted (schema and zizmor),
running what .ci/run runs, and publishing what the bundle deploys."""

from __future__ import annotations

import copy
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
CI_RUN = REPO / ".ci" / "run"
# make targets that prepare a machine rather than test anything: a step in a job, not a job.
SETUP_TARGETS = {"container-tools", "monitoring-tools"}


def lint(*paths: Path) -> subprocess.CompletedProcess:
    """The workflows' schema (check-jsonschema's copy of SchemaStore's), then zizmor's offline
    audits (unpinned actions, persisted credentials, template injection, permissions...)."""
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    if schema.returncode != 0:
        return schema
    return subprocess.run(
        [str(bin_dir / "zizmor"), "--offline", "--no-progress", "--format", "plain",
         "--config", str(REPO / ".github" / "zizmor.yml"), *map(str, paths)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def dependabot_schema(path: Path) -> subprocess.CompletedProcess:
    """The Dependabot configuration against its schema (check-jsonschema's copy of SchemaStore's)."""
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def load(name: str) -> dict:
    # YAML 1.1 reads the key `on` as True.
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(job: dict) -> list[dict]:
    return job.get("steps") or []


def uses(job: dict, action: str) -> dict:
    found = [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]
    assert len(found) == 1, f"expected one step using {action}"
    return found[0]


def test_should_pass_the_schema_and_zizmors_audits():
    linted = lint(*sorted(WORKFLOWS.glob("*.yml")))
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize(
    ("step", "finding"),
    [
        ("- uses: actions/checkout@v4", "unpinned-uses"),  # a movable tag, not a commit
        ("- run: echo ${{ github.event.pull_request.title }}", "template-injection"),
        ("- nme: typo\n        run: echo hi", "is not valid under any of the given schemas"),
    ],
)
def test_should_report_a_broken_workflow(tmp_path, step, finding):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request_target\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n"
        f"    steps:\n      {step}\n"
    )
    linted = lint(broken)
    assert linted.returncode != 0
    assert finding in linted.stdout + linted.stderr


def test_ci_should_run_the_tests_the_manifests_and_the_image_suite_on_pushes_and_pull_requests():
    ci = load("ci.yml")
    assert {"push", "pull_request", "workflow_call"} <= set(ci["on"])
    commands = " ".join(s.get("run", "") for job in ci["jobs"].values() for s in steps(job))
    for target in ("make test ", "make validate ", "make test-image "):
        assert target in commands, target
    # Where the locks' CPU torch wheel comes from (PyPI does not carry it).
    assert ci["env"]["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"


def make_targets(script: str) -> set[str]:
    """The targets of every `make` command in a shell script: the words after `make` up to the
    next operator, less its options and VAR=value assignments."""
    operators = set("();<>|&")
    targets: set[str] = set()
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:  # a quote that closes on a later line: no make command to read here
            continue
        previous, in_make = None, False
        for i, token in enumerate(tokens):
            redirected_fd = token.isdigit() and i + 1 < len(tokens) and tokens[i + 1][0] in "<>"  # 2>&1
            if set(token) <= operators or redirected_fd:
                in_make = False
            elif in_make and not token.startswith("-") and "=" not in token:
                targets.add(token)
            elif token == "make" and (previous is None or set(previous) <= operators
                                      or previous in {"sudo", "then", "do", "else", "!"}):
                in_make = True
            previous = token
    return targets


def workflow_targets(workflow: dict) -> dict[str, set[str]]:
    """Each job's make targets, from its steps' `run` commands."""
    return {
        name: set().union(*(make_targets(s.get("run", "")) for s in steps(job)))
        for name, job in workflow["jobs"].items()
    }


def target_mismatch(ci_run: str, workflow: dict) -> tuple[set[str], set[str]]:
    """(only .ci/run's targets, only the workflow's)."""
    local = make_targets(ci_run)
    github = set().union(*workflow_targets(workflow).values())
    return local - github, github - local


@pytest.mark.parametrize(
    ("script", "targets"),
    [
        ("make test\nmake validate\n", {"test", "validate"}),
        ('make validate TORCH_INDEX="${TORCH_INDEX}" VALIDATE_ARGS="--output junit"', {"validate"}),
        ("command -v podman >/dev/null || sudo make container-tools", {"container-tools"}),
        ('mkdir -p logs\nmake e2e KEEP_CLUSTER=1 PYTEST_ARGS="-rA -x" 2>&1 | tee logs/e2e.log', {"e2e"}),
        ("make --no-print-directory test-image \\\n  PYTEST_ARGS=-rA", {"test-image"}),
        ("# make lint, later\necho make fuzz; cmake build", set()),
    ],
)
def test_should_read_the_targets_of_make_commands(script, targets):
    assert make_targets(script) == targets


def test_ci_run_and_the_ci_workflow_should_run_the_same_make_targets():
    """One list of suites: a target added to one of them must be added to the other."""
    only_local, only_github = target_mismatch(CI_RUN.read_text(), load("ci.yml"))
    assert not only_local and not only_github, (
        f"only in .ci/run: {sorted(only_local)}; only in ci.yml: {sorted(only_github)}"
    )
    assert {"test", "validate", "audit", "e2e"} <= make_targets(CI_RUN.read_text())


@pytest.mark.parametrize("side", [".ci/run", "ci.yml"])
def test_the_comparison_should_catch_a_target_on_one_side_only(side):
    ci_run, workflow = CI_RUN.read_text(), copy.deepcopy(load("ci.yml"))
    if side == ".ci/run":
        ci_run += "make new-suite\n"
    else:
        workflow["jobs"]["new-suite"] = {"steps": [{"run": 'make new-suite TORCH_INDEX="${TORCH_INDEX}"'}]}
    only_local, only_github = target_mismatch(ci_run, workflow)
    assert (only_local if side == ".ci/run" else only_github) == {"new-suite"}
    assert not (only_github if side == ".ci/run" else only_local)


def test_every_ci_job_should_run_one_suite_with_the_locks_torch_index():
    ci = load("ci.yml")
    for name, targets in workflow_targets(ci).items():
        assert len(targets - SETUP_TARGETS) == 1, f"job {name} runs {sorted(targets)}: one suite a job"
        for step in steps(ci["jobs"][name]):
            if make_targets(step.get("run", "")) - SETUP_TARGETS:
                assert 'TORCH_INDEX="${TORCH_INDEX}"' in step["run"], f"job {name}: the locks' torch CPU wheel"


def test_the_e2e_job_should_require_the_kind_suite_and_upload_its_logs_always():
    job = load("ci.yml")["jobs"]["e2e"]
    suite = next(s for s in steps(job) if "e2e" in make_targets(s.get("run", "")))
    assert "E2E_ALLOW_SKIP" not in suite["run"], "on GitHub's runner the kind suite must run, not skip"
    assert "e2e-logs/" in suite["run"] and suite["shell"] == "bash", "tee keeps the suite's status with pipefail"
    upload = uses(job, "actions/upload-artifact")
    assert upload["if"] == "always()" and upload["with"]["path"] == "e2e-logs/"
    assert "E2E_ALLOW_SKIP=1" in next(line for line in CI_RUN.read_text().splitlines() if line.startswith("make e2e"))


def test_only_the_local_ci_may_pass_an_audit_that_cannot_reach_a_service():
    assert "AUDIT_ALLOW_SKIP" not in (WORKFLOWS / "ci.yml").read_text(), "on GitHub the audit must reach its service"
    assert "export AUDIT_ALLOW_SKIP=1" in CI_RUN.read_text().splitlines()


def test_make_audit_passes_a_service_it_cannot_reach_outside_ci_or_when_allowed(tmp_path):
    """The Makefile's rule for status 77 (the audit could not run), run by make itself."""
    rule = next(line for line in (REPO / "Makefile").read_text().splitlines() if "status -eq 77" in line)
    makefile = tmp_path / "Makefile"
    makefile.write_text("audit:\n\t@sh -c 'exit 77'; status=$$?; \\\n" + rule + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "AUDIT_ALLOW_SKIP")}

    def status(*args: str, ci: bool) -> int:
        return subprocess.run(["make", "-s", "-f", str(makefile), "audit", *args], env={**env, **({"CI": "true"} if ci else {})},
                              capture_output=True).returncode

    assert status(ci=False) == 0
    assert status(ci=True) != 0
    assert status("AUDIT_ALLOW_SKIP=1", ci=True) == 0


def makefile_variable(name: str) -> str:
    return re.search(rf"^{name}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)


def test_release_should_publish_the_images_the_overlays_deploy():
    release = load("release.yml")
    assert release["on"]["push"]["tags"] == ["v*.*.*"]
    job = release["jobs"]["image"]
    assert job["needs"] == "ci", "nothing is published before the tests pass"
    targets = job["strategy"]["matrix"]["target"]
    assert sorted(targets) == ["cpu", "gpu"]

    meta = uses(job, "docker/metadata-action")["with"]
    published = meta["images"].replace("${{ github.repository_owner }}", "example")
    assert "suffix=-${{ matrix.target }}" in meta["flavor"] and "latest=false" in meta["flavor"]
    assert "type=semver,pattern={{version}}" in meta["tags"]

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    deployed = {f"{makefile_variable('IMAGE_REPO')}:{makefile_variable('IMAGE_TAG')}-{t}" for t in targets}
    assert deployed == {f"{published}:{version}-{t}" for t in targets}
    for overlay in ("base", "overlays/cpu"):
        kustomization = yaml.safe_load((REPO / overlay / "kustomization.yaml").read_text())
        for image in kustomization.get("images", []):
            if "kserve-reranker" in image.get("newName", image["name"]):
                assert f"{image.get('newName', image['name'])}:{image['newTag']}" in deployed


def test_release_should_build_each_target_with_sbom_provenance_and_a_keyless_signature():
    job = load("release.yml")["jobs"]["image"]
    build = uses(job, "docker/build-push-action")["with"]
    assert build["file"] == "serving/Dockerfile" and build["target"] == "${{ matrix.target }}"
    assert build["push"] is True and build["provenance"] == "mode=max"
    assert job["permissions"]["id-token"] == "write", "cosign keyless signing needs the OIDC token"
    assert job["permissions"]["packages"] == "write"
    sign = next(s for s in steps(job) if "cosign sign" in s.get("run", ""))
    assert "--yes" in sign["run"] and "@${DIGEST}" in sign["run"], "sign the digest, not a movable tag"
    uses(job, "sigstore/cosign-installer")


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_should_grant_only_read_access_by_default(name):
    assert load(name)["permissions"] == {"contents": "read"}


def test_release_should_attach_an_sbom_of_exactly_the_images_lock():
    job = load("release.yml")["jobs"]["image"]
    # BuildKit's own SBOM would list the base image's Debian packages, not the lock.
    assert uses(job, "docker/build-push-action")["with"]["sbom"] is False
    made = next(s for s in steps(job) if "sbom" in make_targets(s.get("run", "")))
    assert 'SBOM_LOCK="${TARGET}-py${IMAGE_PYTHON}"' in made["run"] and made["env"]["TARGET"] == "${{ matrix.target }}"
    # The image's Python is the default base image's: serving/Dockerfile's upstream-python stage.
    dockerfile = (REPO / "serving" / "Dockerfile").read_text()
    assert f"FROM python:{made['env']['IMAGE_PYTHON']}-slim AS upstream-python" in dockerfile
    names = [s.get("name", "") for s in steps(job)]
    attest = next(s for s in steps(job) if "cosign attest" in s.get("run", ""))
    assert "--predicate sbom.cdx.json" in attest["run"] and "@${DIGEST}" in attest["run"]
    assert names.index(made["name"]) < names.index(attest["name"])


def test_dependabot_configuration_should_pass_its_schema():
    checked = dependabot_schema(DEPENDABOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (("interval: weekly", "interval: fortnightly"), "'fortnightly' is not one of"),
        (("versioning-strategy:", "versioning-stratgy:"), "'versioning-stratgy' was unexpected"),
    ],
)
def test_should_report_a_broken_dependabot_configuration(tmp_path, change, finding):
    broken = tmp_path / "dependabot.yml"
    broken.write_text(DEPENDABOT.read_text().replace(*change))
    checked = dependabot_schema(broken)
    assert checked.returncode != 0 and finding in checked.stdout + checked.stderr


def test_dependabot_should_update_pip_the_actions_and_the_base_image_grouped():
    updates = yaml.safe_load(DEPENDABOT.read_text())["updates"]
    by_ecosystem = {(u["package-ecosystem"], u["directory"]): u for u in updates}
    assert {("pip", "/"), ("pip", "/tests/clients"), ("github-actions", "/"), ("docker", "/serving")} == set(by_ecosystem)
    for update in updates:
        # One pull request per ecosystem and directory: every dependency in one group.
        assert [group["patterns"] for group in update["groups"].values()] == [["*"]], update["package-ecosystem"]
    # A new Python minor needs its locks first: the bot moves the base image within its minor.
    docker = by_ecosystem[("docker", "/serving")]
    assert {"version-update:semver-minor", "version-update:semver-major"} <= set(docker["ignore"][0]["update-types"])
