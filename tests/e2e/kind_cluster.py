"""cert-manager and KServe in Standard mode on pytest-kind's cluster.

pytest-kind (the maintained fork, pytest-kind-ng) owns the cluster: its ``kind_cluster`` fixture
creates it (or reuses one of that name) with the kind binary and kubectl it downloads into
``.pytest-kind/``, and deletes it after the session unless ``--keep-cluster``. This module pins
what it runs (the node image, kind and kubectl) and everything the suite installs, and drives the
cluster with pytest-kind's own binaries. The machine provides only a Docker engine that runs
privileged containers; ``missing_prerequisite`` names, in one line, what is missing of that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass

import pytest_kind
import pytest_kind.cluster

CLUSTER_NAME = "kserve-reranker-e2e"
E2E_NAMESPACE = "reranker-e2e"  # recreated on every run, so a kept cluster starts clean
ISVC_NAME = "reranker-model"  # the InferenceService of base/
# kind v0.31.0's release notes list this image for Kubernetes 1.34 (KServe v0.20 needs >= 1.32).
KIND_NODE_IMAGE = "kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48"
# What pytest-kind downloads (its own defaults, kind v0.17 and kubectl 1.25, predate the node
# image); its KIND_VERSION and KUBECTL_VERSION environment variables still override these.
KIND_VERSION = "v0.31.0"
KUBECTL_VERSION = "v1.34.3"
# cert-manager issues the KServe webhook's certificate (KServe asks for >= 1.15).
CERT_MANAGER_URL = "https://github.com/cert-manager/cert-manager/releases/download/v1.17.2/cert-manager.yaml"
KSERVE_VERSION = "v0.20.0"  # the release the whole project pins (storage initializer, CRDs)
KSERVE_URL = f"https://github.com/kserve/kserve/releases/download/{KSERVE_VERSION}/kserve.yaml"
KSERVE_NAMESPACE = "kserve"
STANDARD_MODE = json.dumps({"defaultDeploymentMode": "Standard"})


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
    info = _run(["docker", "info"], check=False, timeout=60)
    if info.returncode != 0:
        return f"missing a Docker engine (`docker info`: {_first_line(info.stderr)})"
    # kind nodes are privileged containers: a rootless or locked-down engine refuses them.
    privileged = _run(
        ["docker", "run", "--rm", "--privileged", "--entrypoint", "true", node_image], check=False, timeout=900
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

    def load_image(self, image: str) -> None:
        _run([str(self.kind.kind_path), "load", "docker-image", image, "--name", self.name], timeout=900)

    def wait_for_nodes(self) -> None:
        # pytest-kind creates the cluster without kind's --wait.
        self.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=180s", timeout=210)

    def install_cert_manager(self) -> None:
        self.kubectl("apply", "-f", CERT_MANAGER_URL)
        self.kubectl("wait", "--for=condition=Available", "deployment", "--all", "-n", "cert-manager", "--timeout=300s",
                     timeout=330)

    def install_kserve_standard(self) -> None:
        # Server-side apply: the InferenceService CRD is too large for the last-applied annotation.
        self.kubectl("apply", "--server-side", "--force-conflicts", "-f", KSERVE_URL, timeout=600)
        patch = json.dumps({"data": {"deploy": STANDARD_MODE}})
        self.kubectl("patch", "configmap", "inferenceservice-config", "-n", KSERVE_NAMESPACE, "--type", "merge", "-p", patch)
        self.kubectl("rollout", "restart", "deployment", "kserve-controller-manager", "-n", KSERVE_NAMESPACE)
        self.kubectl("rollout", "status", "deployment", "kserve-controller-manager", "-n", KSERVE_NAMESPACE,
                     "--timeout=300s", timeout=330)

    def apply_with_retry(self, *args: str, attempts: int = 12, delay_s: float = 10) -> None:
        """``kubectl apply``, retried while KServe's webhook starts (its first calls are refused)."""
        for attempt in range(attempts):
            done = self.kubectl("apply", *args, check=False)
            if done.returncode == 0:
                return
            if attempt == attempts - 1:
                raise RuntimeError(f"kubectl apply {' '.join(args)} kept failing:\n{done.stdout}{done.stderr}")
            time.sleep(delay_s)

    def diagnostics(self, namespace: str, isvc: str) -> str:
        """Pods, the InferenceService, the pods' logs and events, and KServe's controller log."""
        sections = [
            ("objects", ["get", "inferenceservice,deployment,service,pod", "-n", namespace, "-o", "wide"]),
            ("inferenceservice", ["describe", "inferenceservice", isvc, "-n", namespace]),
            ("pod logs", ["logs", "-n", namespace, "-l", f"serving.kserve.io/inferenceservice={isvc}",
                          "--all-containers", "--prefix", "--tail=200"]),
            ("events", ["get", "events", "-n", namespace, "--sort-by=.lastTimestamp"]),
            ("kserve controller", ["logs", "-n", KSERVE_NAMESPACE, "deployment/kserve-controller-manager", "--tail=100"]),
        ]
        out = []
        for title, args in sections:
            done = self.kubectl(*args, check=False, timeout=60)
            out.append(f"--- {title}: kubectl {' '.join(args)}\n{done.stdout}{done.stderr}")
        return "\n".join(out)


def _run(argv: list[str], check: bool = True, timeout: float = 300, stdin: str | None = None):
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=stdin, env=os.environ)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else "(no message)"
