"""Where the kind suite cannot run, it says what is missing in one line and ends non-zero."""

from __future__ import annotations

import subprocess
import sys

import pytest
from kind_cluster import missing_prerequisite
from local_pod import REPO

NO_ENGINE = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."


@pytest.fixture
def docker_without_engine(tmp_path, monkeypatch):
    """A PATH whose only tool is a docker CLI that cannot reach an engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!/bin/sh\necho '{NO_ENGINE}' >&2\nexit 1\n")
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return bin_dir


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
