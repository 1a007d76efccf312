"""pytest-kind's cluster, driven through pytest-kind's own kubectl and kind binaries.

pytest-kind (the maintained fork, pytest-kind-ng) owns the cluster: its ``kind_cluster`` fixture
creates it (or reuses one of that name) with the kind binary and kubectl it downloads into
``.pytest-kind/``, and deletes it after the session unless ``--keep-cluster``. This module pins
what it runs (the node image, kind and kubectl) and performs the suite's steps (kind_install.py:
cert-manager, the third-party CRDs, KServe, the bundle) with kubectl. The machine provides only a
Docker engine that runs privileged containers; ``missing_prerequisite`` names, in one line, what is
missing of that.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import pytest_kind
import pytest_kind.cluster

from tests.kind.kind_budget import DIAGNOSTIC_CALL_S, DIAGNOSTICS_S, DOCKER_INFO_S, NODE_IMAGE_RUN_S
from tests.kind.kind_install import KSERVE_NAMESPACE, KUBECTL_GRACE_S, Step

CLUSTER_NAME = "kserve-reranker-e2e"
# kind v0.31.0's release notes list this image for Kubernetes 1.34 (KServe v0.20 needs >= 1.32).
KIND_NODE_IMAGE = "kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48"
# What pytest-kind downloads (its own defaults, kind v0.17 and kubectl 1.25, predate the node
# image); its KIND_VERSION and KUBECTL_VERSION environment variables still override these.
# kind >= v0.24's kindnet enforces NetworkPolicies (kube-network-policies), which the suite tests.
KIND_VERSION = "v0.31.0"
KUBECTL_VERSION = "v1.34.3"


def configure_pytest_kind(option) -> None:
    """This suite's pins as pytest-kind's settings, where the command line leaves its defaults:
    the cluster's name, its node image, and the kind and kubectl releases it downloads."""
    if option.cluster_name == "pytest-kind":  # pytest-kind's default name
        option.cluster_name = CLUSTER_NAME
    if option.kind_image is None:
        option.kind_image = KIND_NODE_IMAGE
    # pytest-kind reads these when it is imported, and uses them when it downloads.
    pytest_kind.cluster.KIND_VERSION = os.environ.get("KIND_VERSION", KIND_VERSION)
    pytest_kind.cluster.KUBECTL_VERSION = os.environ.get("KUBECTL_VERSION", KUBECTL_VERSION)


def missing_prerequisite(node_image: str = KIND_NODE_IMAGE) -> str | None:
    """One line naming what this machine lacks to run the kind suite, or None."""
    if shutil.which("docker") is None:
        return "missing the Docker CLI (`docker` is not on PATH)"
    info = _run(["docker", "info"], check=False, timeout=DOCKER_INFO_S)
    if info.returncode != 0:
        return f"missing a Docker engine (`docker info`: {_first_line(info.stderr)})"
    # kind nodes are privileged containers: a rootless or locked-down engine refuses them.
    privileged = _run(
        ["docker", "run", "--rm", "--privileged", "--entrypoint", "true", node_image],
        check=False,
        timeout=NODE_IMAGE_RUN_S,
    )
    if privileged.returncode != 0:
        # The daemon's error comes last, after any "Unable to find image" pull notes.
        reason = _first_line("\n".join(reversed(privileged.stderr.splitlines())))
        return f"missing privileged containers (a kind node would not start: {reason})"
    return None


@dataclass
class KServeCluster:
    """pytest-kind's cluster, driven through its kubectl and kind binaries."""

    kind: pytest_kind.KindCluster
    _diagnostics_left_s: float = field(default=DIAGNOSTICS_S, init=False)

    def __post_init__(self) -> None:
        self.kind.ensure_kubectl()

    @property
    def name(self) -> str:
        return self.kind.name

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None):
        return _run(self._kubectl_argv(*args), check=check, timeout=timeout, stdin=stdin)

    def kubectl_popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self._kubectl_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def _kubectl_argv(self, *args: str) -> list[str]:
        return [str(self.kind.kubectl_path), "--kubeconfig", str(self.kind.kubeconfig_path), *args]

    def load_image(self, image: str, timeout: float) -> None:
        _run([str(self.kind.kind_path), "load", "docker-image", image, "--name", self.name], timeout=timeout)

    def run(self, plan: Iterable[Step]) -> None:
        """Each step with kubectl, in order; a step with a retry is called again while it fails."""
        for step in plan:
            if step.retry is None:
                self.kubectl(*step.args(), stdin=step.stdin(), timeout=step.timeout_s + KUBECTL_GRACE_S)
            else:
                self._run_with_retry(step)

    def _run_with_retry(self, step: Step) -> None:
        deadline = time.monotonic() + step.retry.within_s
        while True:
            try:
                done = self.kubectl(
                    *step.args(), stdin=step.stdin(), check=False, timeout=step.timeout_s + KUBECTL_GRACE_S
                )
                if done.returncode == 0:
                    return
                failure = f"exited {done.returncode}:\n{done.stdout}{done.stderr}"
            except subprocess.TimeoutExpired:
                failure = f"timed out after {step.timeout_s + KUBECTL_GRACE_S} s"
            if time.monotonic() + step.retry.delay_s >= deadline:
                command = " ".join(step.args())
                raise RuntimeError(f"kubectl {command} kept failing for {step.retry.within_s} s: {failure}")
            time.sleep(step.retry.delay_s)

    def diagnostics(self, namespace: str, isvc: str) -> str:
        """Pods, the InferenceService, the pods' logs and events, and the KServe and cert-manager
        namespaces; within what is left of the session's DIAGNOSTICS_S."""
        sections = [
            (
                "objects",
                ["get", "inferenceservice,deployment,service,networkpolicy,pod", "-n", namespace, "-o", "wide"],
            ),
            ("inferenceservice", ["describe", "inferenceservice", isvc, "-n", namespace]),
            (
                "pod logs",
                [
                    "logs",
                    "-n",
                    namespace,
                    "-l",
                    f"serving.kserve.io/inferenceservice={isvc}",
                    "--all-containers",
                    "--prefix",
                    "--tail=200",
                ],
            ),
            ("events", ["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"]),
            ("kserve pods", ["get", "pods", "-n", KSERVE_NAMESPACE, "-o", "wide"]),
            ("kserve events", ["get", "events", "-n", KSERVE_NAMESPACE, "--sort-by=.lastTimestamp"]),
            (
                "kserve controller",
                [
                    "logs",
                    "-n",
                    KSERVE_NAMESPACE,
                    "deployment/kserve-controller-manager",
                    "--all-containers",
                    "--tail=100",
                ],
            ),
            ("cert-manager pods", ["get", "pods", "-n", "cert-manager", "-o", "wide"]),
        ]
        out = []
        for title, args in sections:
            if self._diagnostics_left_s <= 0:
                out.append(f"--- {title}: not read (the session's {DIAGNOSTICS_S} s for diagnostics are spent)")
                continue
            started = time.monotonic()
            try:
                done = self.kubectl(*args, check=False, timeout=min(DIAGNOSTIC_CALL_S, self._diagnostics_left_s))
                text = f"{done.stdout}{done.stderr}"
            except subprocess.TimeoutExpired:
                text = "(timed out)"
            self._diagnostics_left_s -= time.monotonic() - started
            out.append(f"--- {title}: kubectl {' '.join(args)}\n{text}")
        return "\n".join(out)


def _run(argv: list[str], check: bool = True, timeout: float = 300, stdin: str | None = None):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, env=os.environ)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
