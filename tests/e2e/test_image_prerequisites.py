"""Where the image suite cannot run, it says what is missing in one line and ends non-zero."""

from __future__ import annotations

import subprocess
import sys

import pytest
from image_suite import build_cpu_image
from local_pod import REPO
from test_kind_prerequisites import fake_tools

NO_SERVICE = "Cannot connect to Podman. Please verify your connection to the Linux system"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    # podman_host_config writes a containers.conf into the cache: never the user's own.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def test_should_name_the_missing_engines_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CONTAINER_ENGINE", raising=False)
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == "no container engine: `podman` is not on PATH (make container-tools installs podman)"


def test_should_name_an_engine_that_cannot_answer(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", monkeypatch, podman=f"echo '{NO_SERVICE}' >&2; exit 125")
    monkeypatch.setenv("CONTAINER_ENGINE", "podman")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == f"no container engine: `podman info` failed ({NO_SERVICE}) (make container-tools installs podman)"


def test_should_ask_for_podman_when_docker_is_chosen(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", monkeypatch, docker="exit 0", podman="exit 0")
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == (
        "missing podman, which runs the predictor Pod (podman kube play): CONTAINER_ENGINE=docker can only build the image"
    )


def test_should_name_an_engine_that_cannot_start_containers(tmp_path, monkeypatch):
    refused = "Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted: OCI permission denied"
    podman = f"""case "$1" in
  info) exit 0 ;;
  image) exit 0 ;;
  run) echo '{refused}' >&2; exit 126 ;;
esac"""
    fake_tools(tmp_path / "bin", monkeypatch, podman=podman)
    monkeypatch.setenv("CONTAINER_ENGINE", "podman")
    monkeypatch.setenv("BASE_IMAGE", "localhost/base:1")
    built, missing = build_cpu_image(tmp_path)
    assert built is None
    assert missing == f"podman cannot run a container here ({refused})"


@pytest.mark.slow
def test_should_end_the_image_suite_with_status_77_and_one_skip_line(tmp_path):
    # What `make test-image` runs, on a machine with no container engine.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-m", "image", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
    )
    assert run.returncode == 77, run.stdout + run.stderr
    skip_lines = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1, run.stdout
    assert "image suite not run: no container engine: `podman` is not on PATH" in skip_lines[0]
    assert "the image suite did not run" in run.stdout
