"""Where the kind suite cannot run, it says what is missing in one line and ends non-zero; where
it can, the cluster is pytest-kind's, created with the suite's pins (here with fake tools)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

import pytest
import pytest_kind.cluster

from tests.e2e.kind_cluster import (
    CLUSTER_NAME,
    KIND_NODE_IMAGE,
    KIND_VERSION,
    configure_pytest_kind,
    missing_prerequisite,
)
from tests.support.local_pod import REPO

NO_ENGINE = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
# What `make e2e` runs.
E2E_PYTEST = [sys.executable, "-m", "pytest", str(REPO / "tests" / "e2e"), "-m", "e2e", "-p", "no:cacheprovider"]
MAKE = shutil.which("make") or "make"  # found before the tests narrow PATH to their fake tools


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


def test_should_name_a_missing_docker_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert missing_prerequisite() == "missing the Docker CLI (`docker` is not on PATH)"


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
    fake_tools(tmp_path / "bin", monkeypatch, docker=docker)
    assert missing_prerequisite() == (
        "missing privileged containers (a kind node would not start: "
        "docker: Error response from daemon: privileged mode is disabled.)"
    )


def test_should_need_only_docker_since_pytest_kind_downloads_kind_and_kubectl(tmp_path, monkeypatch):
    calls = tmp_path / "docker.log"
    fake_tools(tmp_path / "bin", monkeypatch, docker=f'echo "$*" >> {calls}')
    assert missing_prerequisite() is None
    assert f"run --rm --privileged --entrypoint true {KIND_NODE_IMAGE}" in calls.read_text().splitlines()


def test_should_give_pytest_kind_the_suites_pins_where_the_command_line_leaves_its_defaults(monkeypatch):
    monkeypatch.delenv("KIND_VERSION", raising=False)
    monkeypatch.setattr(pytest_kind.cluster, "KIND_VERSION", "v0.17.0")  # pytest-kind's own default
    defaults = argparse.Namespace(cluster_name="pytest-kind", kind_image=None)
    configure_pytest_kind(defaults)
    assert (defaults.cluster_name, defaults.kind_image) == (CLUSTER_NAME, KIND_NODE_IMAGE)
    assert pytest_kind.cluster.KIND_VERSION == KIND_VERSION

    monkeypatch.setenv("KIND_VERSION", "v0.32.0")
    chosen = argparse.Namespace(cluster_name="mine", kind_image="kindest/node:v1.35.0")
    configure_pytest_kind(chosen)
    assert (chosen.cluster_name, chosen.kind_image) == ("mine", "kindest/node:v1.35.0")
    assert pytest_kind.cluster.KIND_VERSION == "v0.32.0"


@pytest.mark.slow
def test_should_end_the_kind_suite_with_status_77_and_one_skip_line(docker_without_engine):
    run = subprocess.run(E2E_PYTEST, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 77, run.stdout + run.stderr
    skip_lines = [line for line in run.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1, run.stdout
    assert f"kind suite not run: missing a Docker engine (`docker info`: {NO_ENGINE})" in skip_lines[0]


@pytest.mark.slow
def test_make_e2e_should_pass_a_skip_only_with_e2e_allow_skip(docker_without_engine):
    """.ci/run's `make e2e E2E_ALLOW_SKIP=1`: a machine without Docker skips, in one line, and
    passes; a plain `make e2e` (GitHub's CI job) fails on the same skip."""
    venv = sys.prefix  # this venv, taken as set up: -o keeps make from reinstalling it
    make = [MAKE, "--no-print-directory", "-o", f"{venv}/.installed", f"VENV={venv}", "e2e"]
    allowed = subprocess.run([*make, "E2E_ALLOW_SKIP=1"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    skip_lines = [line for line in allowed.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1 and "kind suite not run: missing a Docker engine" in skip_lines[0], allowed.stdout
    required = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert required.returncode != 0, required.stdout + required.stderr
    assert "Error 77" in required.stderr


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True], ids=["deleted", "kept"])
def test_should_create_the_cluster_with_pytest_kind_and_report_it_when_setup_fails(tmp_path, monkeypatch, keep):
    """pytest-kind's fixture makes the cluster (name, node image, its kind binary and kubeconfig);
    a failure prints the cluster's diagnostics; pytest-kind deletes it unless --keep-cluster."""
    log = tmp_path / "calls.log"
    kubeconfig = (
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: k, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: k, user: k}}]"
    )
    # kind create writes the kubeconfig pytest-kind then reads (pykube); every other call succeeds.
    kind = f"""echo "kind $*" >> {log}
for arg in "$@"; do
  case "$arg" in --kubeconfig=*) printf '%s\\n' "{kubeconfig}" > "${{arg#--kubeconfig=}}" ;; esac
done"""
    kubectl = f"""echo "kubectl $*" >> {log}
case "$*" in *" wait --for=condition=Ready node "*) echo "error: no nodes are Ready" >&2; exit 1 ;; esac
echo "fake kubectl output" """
    fake_tools(tmp_path / "bin", monkeypatch, docker="exit 0", kind=kind, kubectl=kubectl)
    options = ["--kind-bin", str(tmp_path / "bin" / "kind"), "--kind-kubectl-bin", str(tmp_path / "bin" / "kubectl")]
    run = subprocess.run(
        [*E2E_PYTEST, *options, *(["--keep-cluster"] if keep else [])],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,  # pytest-kind's files go to ./.pytest-kind
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    calls = log.read_text().splitlines()
    kubeconfig_path = f".pytest-kind/{CLUSTER_NAME}/kubeconfig"  # pytest-kind's, relative to the working directory
    create = f"kind create cluster --name={CLUSTER_NAME} --kubeconfig={kubeconfig_path} --image={KIND_NODE_IMAGE}"
    assert create in calls, calls
    assert f"kubectl --kubeconfig {kubeconfig_path} wait --for=condition=Ready node --all --timeout=180s" in calls
    assert "no nodes are Ready" in output and "kind cluster: pods, logs and events" in output
    deleted = f"kind delete cluster --name={CLUSTER_NAME} --kubeconfig={kubeconfig_path}" in calls
    assert deleted is not keep, calls
