"""Where the kind suite cannot run, it says what is missing in one line and ends non-zero; where
it can, the cluster is pytest-kind's, created with the suite's pins, and the suite installs on it
what kind_install.INSTALL_PLAN lists, in that order (here with fake tools)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
import pytest_kind.cluster

from tests.kind.kind_cluster import (
    CLUSTER_NAME,
    KIND_NODE_IMAGE,
    KIND_VERSION,
    KServeCluster,
    configure_pytest_kind,
    missing_prerequisite,
)
from tests.kind.kind_install import (
    INSTALL_PLAN,
    KSERVE_CLUSTER_RESOURCES,
    ApplyManifests,
    CreateNamespace,
    PatchConfigMap,
    Retry,
    WaitAvailable,
    WaitEstablished,
    WaitNodesReady,
)
from tests.support.local_pod import REPO

NO_ENGINE = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
# What `make e2e` runs.
E2E_PYTEST = [sys.executable, "-m", "pytest", str(REPO / "tests" / "kind"), "-m", "e2e", "-p", "no:cacheprovider"]
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


def fake_kind(log) -> str:
    """kind create writes the kubeconfig pytest-kind then reads (pykube); every call succeeds."""
    kubeconfig = (
        "apiVersion: v1\nkind: Config\ncurrent-context: k\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: k, user: {token: t}}]\ncontexts: [{name: k, context: {cluster: k, user: k}}]"
    )
    return f"""echo "kind $*" >> {log}
for arg in "$@"; do
  case "$arg" in --kubeconfig=*) printf '%s\\n' "{kubeconfig}" > "${{arg#--kubeconfig=}}" ;; esac
done"""


@pytest.mark.slow
@pytest.mark.parametrize("keep", [False, True], ids=["deleted", "kept"])
def test_should_create_the_cluster_with_pytest_kind_and_report_it_when_setup_fails(tmp_path, monkeypatch, keep):
    """pytest-kind's fixture makes the cluster (name, node image, its kind binary and kubeconfig);
    a failure prints the cluster's diagnostics; pytest-kind deletes it unless --keep-cluster."""
    log = tmp_path / "calls.log"
    kind = fake_kind(log)
    kubectl = f"""echo "kubectl $*" >> {log}
case "$*" in *" wait --for=condition=Ready node "*) echo "error: no nodes are Ready" >&2; exit 1 ;; esac
echo "fake kubectl output" """
    fake_tools(tmp_path / "bin", monkeypatch, docker="exit 0", kind=kind, kubectl=kubectl)
    options = ["--kind-bin", str(tmp_path / "bin" / "kind"), "--kind-kubectl-bin", str(tmp_path / "bin" / "kubectl")]
    run = subprocess.run(
        [*E2E_PYTEST, *options, *(["--keep-cluster"] if keep else [])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,  # pytest-kind's files go to ./.pytest-kind
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


def plan_step_matches(step, argv: list[str], stdin: str) -> bool:
    """Whether one kubectl call does what the plan's step says, read from its arguments."""
    if isinstance(step, WaitNodesReady):
        return argv == ["wait", "--for=condition=Ready", "node", "--all", f"--timeout={step.timeout_s}s"]
    if isinstance(step, CreateNamespace):
        return argv == ["apply", "-f", "-"] and json.loads(stdin)["metadata"]["name"] == step.name
    if isinstance(step, ApplyManifests):
        urls = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-f"]
        return (
            argv[0] == "apply"
            and urls == [m.url for m in step.manifests]
            and ("--server-side" in argv) == step.server_side
            and ("--force-conflicts" in argv) == step.force_conflicts
        )
    if isinstance(step, WaitEstablished):
        return argv[:2] == ["wait", "--for=condition=Established"] and [
            a.removeprefix("crd/") for a in argv if a.startswith("crd/")
        ] == list(step.crds)
    if isinstance(step, WaitAvailable):
        return argv[:4] == ["wait", "--for=condition=Available", "-n", step.namespace] and [
            a.removeprefix("deployment/") for a in argv if a.startswith("deployment/")
        ] == list(step.deployments)
    if isinstance(step, PatchConfigMap):
        patch = json.loads(argv[argv.index("-p") + 1])
        return argv[:5] == ["patch", "configmap", step.name, "-n", step.namespace] and patch == {
            "data": {step.key: step.value}
        }
    raise AssertionError(f"no matcher for {step}")


@pytest.mark.slow
def test_should_install_what_the_plan_lists_through_kubectl_in_its_order(tmp_path, monkeypatch):
    """The session fixture alone (--setup-only), with a kubectl that records each call and its
    standard input and succeeds: one call per step of the install plan, in the plan's order."""
    log, stdin_log = tmp_path / "calls.log", tmp_path / "stdin.log"
    # Shell builtins only (PATH holds the fake tools alone): arguments apart by \\037, one call a line.
    kubectl = f"""for a in "$@"; do printf '%s\\037' "$a"; done >> {log}; echo >> {log}
case " $* " in
  *" -f - "*) while IFS= read -r line || [ -n "$line" ]; do printf '%s ' "$line"; done >> {stdin_log} ;;
esac
echo >> {stdin_log}
echo "fake kubectl output" """
    fake_tools(tmp_path / "bin", monkeypatch, docker="exit 0", kind=fake_kind(tmp_path / "kind.log"), kubectl=kubectl)
    options = ["--kind-bin", str(tmp_path / "bin" / "kind"), "--kind-kubectl-bin", str(tmp_path / "bin" / "kubectl")]
    dry_run_module = str(REPO / "tests" / "kind" / "test_kind_dry_run.py")
    setup_only = [sys.executable, "-m", "pytest", dry_run_module, "-m", "e2e", "-p", "no:cacheprovider", "--setup-only"]
    run = subprocess.run([*setup_only, *options], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    # Each call: --kubeconfig <path> <what the suite asks>.
    calls = [line.split("\037")[2:-1] for line in log.read_text().splitlines()]
    stdins = stdin_log.read_text().splitlines()
    assert len(calls) == len(INSTALL_PLAN), "\n".join(" ".join(c) for c in calls)
    for step, argv, stdin in zip(INSTALL_PLAN, calls, stdins):
        assert plan_step_matches(step, argv, stdin), (step, argv)


def cluster_with_kubectl(bin_dir, monkeypatch, kubectl: str) -> KServeCluster:
    """A KServeCluster whose kubectl is this script (pytest-kind's cluster stubbed out)."""
    fake_tools(bin_dir, monkeypatch, kubectl=kubectl)
    kind = SimpleNamespace(
        name=CLUSTER_NAME,
        kubectl_path=bin_dir / "kubectl",
        kubeconfig_path=bin_dir / "kubeconfig",
        kind_path=bin_dir / "kind",
        ensure_kubectl=lambda: None,
    )
    return KServeCluster(kind)


def refusing_kubectl(count, refusals: int) -> str:
    """Counts its calls in ``count``; refuses the first ``refusals`` as a webhook that is not up yet."""
    return f"""n=0; [ -f {count} ] && read n < {count}; n=$((n + 1)); echo $n > {count}
if [ $n -le {refusals} ]; then
  echo 'failed calling webhook "webhook.cert-manager.io": connection refused' >&2; exit 1
fi
echo applied"""


def test_should_call_a_step_with_a_retry_again_until_the_webhook_admits_it(tmp_path, monkeypatch):
    count = tmp_path / "count"
    cluster = cluster_with_kubectl(tmp_path / "bin", monkeypatch, refusing_kubectl(count, refusals=2))
    cluster.run([ApplyManifests((KSERVE_CLUSTER_RESOURCES,), retry=Retry(within_s=30, delay_s=1))])
    assert count.read_text().strip() == "3"


def test_should_give_up_on_a_refused_step_when_its_retry_window_closes(tmp_path, monkeypatch):
    count = tmp_path / "count"
    cluster = cluster_with_kubectl(tmp_path / "bin", monkeypatch, refusing_kubectl(count, refusals=1000))
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="kept failing for 3 s: exited 1:\n.*connection refused"):
        cluster.run([ApplyManifests((KSERVE_CLUSTER_RESOURCES,), retry=Retry(within_s=3, delay_s=1))])
    assert time.monotonic() - started < 3 + 5
    assert int(count.read_text()) >= 2


def test_should_stop_at_a_refused_step_without_a_retry(tmp_path, monkeypatch):
    count = tmp_path / "count"
    cluster = cluster_with_kubectl(tmp_path / "bin", monkeypatch, refusing_kubectl(count, refusals=1))
    with pytest.raises(RuntimeError, match="connection refused"):
        cluster.run([ApplyManifests((KSERVE_CLUSTER_RESOURCES,)), WaitNodesReady()])
    assert count.read_text().strip() == "1"
