"""Where the image suite cannot run, it says all that is missing in one line, before it builds
anything, and ends non-zero: 77 (skipped), or under CI=true a failure."""

from __future__ import annotations

import subprocess
import sys

import pytest
from imagebuild import container_engine as engine_module

from tests.image.image_suite import build_cpu_image, build_gpu_image
from tests.kind.test_kind_prerequisites import fake_tools
from tests.support.local_pod import REPO

NO_SERVICE = "Cannot connect to Podman. Please verify your connection to the Linux system"
CONMON = "conmon (podman's container monitor)"
PAUSE = "catatonit (podman's pause binary, which every pod's infra container runs)"
RUNTIME = "runc or crun (an OCI runtime)"
MMDEBSTRAP = "mmdebstrap (it makes the base image where python:3.12-slim cannot be pulled)"
HINT = "(make container-tools installs them)"
# A podman that answers and has every image asked for; it logs each call.
WORKING_PODMAN = 'echo "$@" >> "$PODMAN_CALLS"; exit 0'


@pytest.fixture(autouse=True)
def bare_machine(tmp_path, monkeypatch):
    """Nothing found outside the test's own PATH, no hybrid cgroups, no user settings; and
    podman_host_config writes its containers.conf into the test's cache, never the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("PODMAN_CALLS", str(tmp_path / "podman-calls"))
    monkeypatch.setattr(engine_module, "PODMAN_HELPER_DIRS", ())
    monkeypatch.setattr(engine_module, "SYSTEM_DIRS", ())
    monkeypatch.setattr(engine_module, "HYBRID_CGROUP_MOUNT", tmp_path / "no-unified")
    for name in ("CONTAINER_ENGINE", "BASE_IMAGE", "CONTAINERS_CONF"):
        monkeypatch.delenv(name, raising=False)


def podman_calls(tmp_path) -> list[str]:
    calls = tmp_path / "podman-calls"
    return calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize("build", [build_cpu_image, build_gpu_image])
def test_should_name_every_missing_prerequisite_in_one_line(tmp_path, monkeypatch, build):
    monkeypatch.setenv("PATH", str(tmp_path))
    built, missing = build(tmp_path)
    assert built is None
    assert missing == f"missing podman (not on PATH); {CONMON}; {PAUSE}; {RUNTIME}; {MMDEBSTRAP} {HINT}"


def test_should_ask_for_the_pause_binary_before_building_anything(tmp_path, monkeypatch):
    # podman, conmon and runc as `make container-tools` once installed them: no catatonit, so
    # `podman kube play` would fail only after the whole build ("finding pause binary").
    fake_tools(tmp_path / "bin", monkeypatch, podman=WORKING_PODMAN, conmon="exit 0", runc="exit 0")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == f"missing {PAUSE} {HINT}"
    assert not [call for call in podman_calls(tmp_path) if call.split()[0] in ("build", "run", "kube")]


def test_should_find_the_pause_binary_in_podmans_helper_directory(tmp_path, monkeypatch):
    helpers = tmp_path / "libexec-podman"
    helpers.mkdir()
    (helpers / "catatonit").write_text("#!/bin/sh\n")
    (helpers / "catatonit").chmod(0o755)
    monkeypatch.setattr(engine_module, "PODMAN_HELPER_DIRS", (str(helpers),))
    fake_tools(tmp_path / "bin", monkeypatch, podman="exit 0", conmon="exit 0", crun="exit 0")
    assert engine_module.podman_missing_tools() == []


def test_should_ask_for_runc_where_crun_refuses_the_hosts_hybrid_cgroups(tmp_path, monkeypatch):
    (tmp_path / "unified").mkdir()
    monkeypatch.setattr(engine_module, "HYBRID_CGROUP_MOUNT", tmp_path / "unified")
    fake_tools(tmp_path / "bin", monkeypatch, podman="exit 0", conmon="exit 0", catatonit="exit 0", crun="exit 0")
    assert engine_module.podman_missing_tools() == ["runc (crun refuses this host's hybrid cgroup hierarchy)"]


def test_should_name_an_engine_that_cannot_answer_with_the_rest(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", monkeypatch, podman=f"echo '{NO_SERVICE}' >&2; exit 125", runc="exit 0")
    monkeypatch.setenv("CONTAINER_ENGINE", "podman")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == (
        f"missing a working podman (`podman info` failed ({NO_SERVICE})); {CONMON}; {PAUSE}; {MMDEBSTRAP} {HINT}"
    )


def test_should_ask_for_mmdebstrap_where_no_base_image_can_be_pulled(tmp_path, monkeypatch):
    refused = "Error: initializing source docker://python:3.12-slim: pinging container registry: no route"
    podman = f"""echo "$@" >> "$PODMAN_CALLS"
case "$1" in
  info) exit 0 ;;
  image) exit 1 ;;
  pull) echo '{refused}' >&2; exit 125 ;;
esac"""
    fake_tools(tmp_path / "bin", monkeypatch, podman=podman, conmon="exit 0", catatonit="exit 0", runc="exit 0")
    built, missing = build_gpu_image(tmp_path)
    assert built is None
    assert missing == (
        "missing mmdebstrap (it makes the base image where python:3.12-slim cannot be pulled, as here: "
        f"{refused}) {HINT}"
    )
    assert not [call for call in podman_calls(tmp_path) if call.split()[0] in ("build", "run", "import")]


def test_should_ask_for_podman_when_docker_is_chosen(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", monkeypatch, docker="exit 0", podman="exit 0")
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == (
        "missing podman, which runs the predictor Pod (podman kube play): "
        "CONTAINER_ENGINE=docker can only build the image"
    )


def test_should_name_an_engine_that_cannot_start_containers(tmp_path, monkeypatch):
    refused = "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied"
    podman = f"""case "$1" in
  info) exit 0 ;;
  image) exit 0 ;;
  run) echo '{refused}' >&2; exit 126 ;;
esac"""
    fake_tools(tmp_path / "bin", monkeypatch, podman=podman, conmon="exit 0", catatonit="exit 0", crun="exit 0")
    monkeypatch.setenv("BASE_IMAGE", "localhost/base:1")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == f"podman cannot run a container here ({refused})"


def run_suite(tmp_path, marker: str, **env) -> subprocess.CompletedProcess:
    """What `make test-image` (or test-image-gpu) runs, on a machine with no podman."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/image", "-m", marker, "-p", "no:cacheprovider"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path), **env},
    )


@pytest.mark.slow
@pytest.mark.parametrize("marker", ["image", "image_gpu"])
def test_should_end_the_image_suite_with_status_77_and_one_skip_line(tmp_path, marker):
    run = run_suite(tmp_path, marker)
    assert run.returncode == 77, run.stdout + run.stderr
    skip_lines = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1, run.stdout
    assert "image suite not run: missing podman (not on PATH)" in skip_lines[0]
    assert "make container-tools installs them" in skip_lines[0]
    assert "the image suite did not run" in run.stdout


@pytest.mark.slow
def test_should_fail_the_image_suite_under_ci_when_it_cannot_reach_podman(tmp_path):
    run = run_suite(tmp_path, "image", CI="true")
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert not [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")], run.stdout
    errors = [line for line in run.stdout.splitlines() if line.startswith("ERROR")]
    reason = "CI=true: image suite not run: missing podman (not on PATH)"
    assert errors and all(reason in line for line in errors), run.stdout
    assert "the image suite did not run" not in run.stdout
