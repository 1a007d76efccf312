"""Kind suite: every kustomization ``make validate`` renders passes a real API server's admission.

Each overlay, each opt-in component on overlays/cpu and each model component on every overlay it
claims (bundlecheck's own enumeration) is rendered and sent to ``kubectl apply --dry-run=server``:
the API server checks every object against its kind's schema (KServe's CRDs, the third-party CRDs
the suite installs) and calls the admission webhooks (KServe's validation and defaulting), and
persists nothing. The GitOps examples are left out: their Argo CD and Flux kinds belong to
controllers the suite does not install.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.kind.bundle_targets import REPO, bundle_targets, render_target
from tests.kind.kind_install import KUBECTL_GRACE_S, CreateNamespace

pytestmark = pytest.mark.e2e

DRY_RUN_NAMESPACE = "reranker-e2e-dry-run"
DRY_RUN_CALL_S = 30


def not_admitted(objects: list[dict], output: str) -> list[str]:
    """The objects kubectl did not report as accepted by the server's dry run."""
    accepted = re.compile(r"^(\S+?)(?:\.\S+)?/(\S+) (created|configured|unchanged) \(server dry run\)$")
    reported = {(m[1], m[2]) for m in map(accepted.match, output.splitlines()) if m}
    return [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in objects
        if (o["kind"].lower(), o["metadata"]["name"]) not in reported
    ]


@pytest.mark.timeout(420, func_only=True)
def test_should_pass_the_api_servers_admission_for_every_overlay_and_component(kind_cluster):
    targets = bundle_targets()
    kind_cluster.run([CreateNamespace(DRY_RUN_NAMESPACE)])
    failures = []
    try:
        for target in targets:
            objects = render_target(target).objects
            done = kind_cluster.kubectl(
                "apply",
                "--dry-run=server",
                "-n",
                DRY_RUN_NAMESPACE,
                "-f",
                "-",
                stdin=yaml.safe_dump_all(objects),
                check=False,
                timeout=DRY_RUN_CALL_S + KUBECTL_GRACE_S,
            )
            missing = not_admitted(objects, done.stdout)
            if done.returncode != 0 or missing:
                name = str(target).replace(f"{REPO}/", "")
                failures.append(f"{name}: exit {done.returncode}, not accepted {missing}\n{done.stdout}{done.stderr}")
    finally:
        kind_cluster.kubectl(
            "delete", "namespace", DRY_RUN_NAMESPACE, "--wait=false", check=False, timeout=DRY_RUN_CALL_S
        )
    assert not failures, f"{len(failures)} of {len(targets)} renders refused:\n\n" + "\n\n".join(failures)
