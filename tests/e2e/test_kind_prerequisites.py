"""Where the kind suite cannot run, it says what is missing in one line and ends non-zero."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kind_cluster import missing_prerequisite
from local_pod import REPO

NO_ENGINE = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."


def fake_tools(bin_dir, monkeypatch, **scripts):
    """A PATH holding only these tools, each a shell script body."""
    bin_dir.mkdir()
    for name, body in scripts.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.fixture
def docker_without_engine(tmp_path, monkeypatch):
    fake_tools(tmp_path / "bin", monkeypatch, docker=f"echo '{NO_ENGINE}' >&2; exit 1")


def test_should_name_every_missing_tool_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing_prerequisite() == (
        "missing the Docker CLI (`docker` is not on PATH); kind (`kind` is not on PATH); "
        "kubectl (`kubectl` is not on PATH)"
    )


def test_should_name_a_docker_cli_without_an_engine(docker_without_engine):
    missing = missing_prerequisite()
    assert missing.startswith(f"missing a Docker engine (`docker info`: {NO_ENGINE})")
    assert "\n" not in missing


def test_should_name_privileged_containers_when_the_engine_refuses_them(tmp_path, monkeypatch):
    docker = """case "$1" in
  info) exit 0 ;;
  run) echo "Unable to find image 'kindest/node' locally" >&2
       echo "docker: Error response from daemon: privileged mode is disabled." >&2; exit 125 ;;
esac"""
    fake_tools(tmp_path / "bin", monkeypatch, docker=docker, kind="exit 0", kubectl="exit 0")
    assert missing_prerequisite() == (
        "missing privileged containers (a kind node would not start: "
        "docker: Error response from daemon: privileged mode is disabled.)"
    )


@pytest.mark.slow
def test_should_end_the_kind_suite_with_status_77_and_one_skip_line(docker_without_engine):
    # What `make e2e` runs, on a machine with a Docker CLI and no engine.
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e", "-m", "e2e", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 77, run.stdout + run.stderr
    skip_lines = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1, run.stdout
    assert f"kind suite not run: missing a Docker engine (`docker info`: {NO_ENGINE})" in skip_lines[0]
