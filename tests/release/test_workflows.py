"""The GitHub Actions workflows: linted (schema and zizmor), and publishing what the bundle deploys."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"


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
    # The CPU torch wheel, never the CUDA build a bare requirement pulls.
    assert "--index-url https://download.pytorch.org/whl/cpu" in ci["env"]["TORCH_INSTALL"]


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
    assert build["push"] is True and build["sbom"] is True and build["provenance"] == "mode=max"
    assert job["permissions"]["id-token"] == "write", "cosign keyless signing needs the OIDC token"
    assert job["permissions"]["packages"] == "write"
    sign = next(s for s in steps(job) if "cosign sign" in s.get("run", ""))
    assert "--yes" in sign["run"] and "@${DIGEST}" in sign["run"], "sign the digest, not a movable tag"
    uses(job, "sigstore/cosign-installer")


@pytest.mark.parametrize("name", ["ci.yml", "release.yml"])
def test_should_grant_only_read_access_by_default(name):
    assert load(name)["permissions"] == {"contents": "read"}
