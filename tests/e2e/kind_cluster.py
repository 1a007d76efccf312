"""A kind cluster with cert-manager and KServe in Standard mode, driven by the CLIs.

Everything the suite installs is pinned here. The kind binary, kubectl and a Docker engine that
runs privileged containers come from the machine; ``missing_prerequisite`` names, in one line,
every one that is not there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLUSTER_NAME = "kserve-reranker-e2e"
E2E_NAMESPACE = "reranker-e2e"  # recreated on every run, so a kept cluster starts clean
ISVC_NAME = "reranker-model"  # the InferenceService of base/
# kind v0.31.0's release notes list this image for Kubernetes 1.34 (KServe v0.20 needs >= 1.32).
KIND_NODE_IMAGE = "kindest/node:v1.34.3@sha256:08497ee19eace7b4b5348db5c6a1591d7752b164530a36f855cb0f2bdcbadd48"
# cert-manager issues the KServe webhook's certificate (KServe asks for >= 1.15).
CERT_MANAGER_URL = "https://github.com/cert-manager/cert-manager/releases/download/v1.17.2/cert-manager.yaml"
KSERVE_VERSION = "v0.20.0"  # the release the whole project pins (storage initializer, CRDs)
KSERVE_URL = f"https://github.com/kserve/kserve/releases/download/{KSERVE_VERSION}/kserve.yaml"
KSERVE_NAMESPACE = "kserve"
STANDARD_MODE = json.dumps({"defaultDeploymentMode": "Standard"})


def missing_prerequisite() -> str | None:
    """One line naming everything this machine lacks to run the kind suite, or None."""
    missing = [
        f"{what} (`{tool}` is not on PATH)"
        for tool, what in (("docker", "the Docker CLI"), ("kind", "kind"), ("kubectl", "kubectl"))
        if shutil.which(tool) is None
    ]
    if shutil.which("docker"):
        info = _run(["docker", "info"], check=False, timeout=60)
        if info.returncode != 0:
            missing.insert(0, f"a Docker engine (`docker info`: {_first_line(info.stderr)})")
        elif shutil.which("kind") and not cluster_exists(CLUSTER_NAME):
            # kind nodes are privileged containers: a rootless or locked-down engine refuses them.
            privileged = _run(
                ["docker", "run", "--rm", "--privileged", "--entrypoint", "true", KIND_NODE_IMAGE],
                check=False,
                timeout=900,
            )
            if privileged.returncode != 0:
                # The daemon's error comes last, after any "Unable to find image" pull notes.
                reason = _first_line("\n".join(reversed(privileged.stderr.splitlines())))
                missing.append(f"privileged containers (a kind node would not start: {reason})")
    return "missing " + "; ".join(missing) if missing else None


def cluster_exists(name: str) -> bool:
    found = _run(["kind", "get", "clusters"], check=False, timeout=60)
    return found.returncode == 0 and name in found.stdout.split()


@dataclass
class KindCluster:
    name: str
    kubeconfig: Path

    def create(self) -> None:
        """Create the cluster, or reuse one of this name that already runs (--keep-cluster)."""
        if not cluster_exists(self.name):
            _run(["kind", "create", "cluster", "--name", self.name, "--image", KIND_NODE_IMAGE, "--wait", "180s",
                  "--kubeconfig", str(self.kubeconfig)], timeout=600)
        else:
            kubeconfig = _run(["kind", "get", "kubeconfig", "--name", self.name], timeout=60).stdout
            self.kubeconfig.write_text(kubeconfig)

    def delete(self) -> None:
        _run(["kind", "delete", "cluster", "--name", self.name], check=False, timeout=300)

    def kubectl(self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None):
        return _run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], check=check, timeout=timeout, stdin=stdin)

    def kubectl_popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def load_image(self, image: str) -> None:
        _run(["kind", "load", "docker-image", image, "--name", self.name], timeout=900)

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
            ("objects", ["get", "inferenceservice,deployment,pod", "-n", namespace, "-o", "wide"]),
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
