"""A one-shot client Pod that POSTs a request to the predictor Service from inside the cluster: the
NetworkPolicy judges pod-to-pod traffic, which a port-forward from the host never is.

The Pod runs the serving image, already loaded into the node, with python3's urllib (nothing to
install), and passes the restricted Pod Security Standard. Its script tries until an answer comes
or its window closes, and always exits 0 with one JSON line: the HTTP status and body, or none and
the errors of each try. A NetworkPolicy that drops the packets shows as connect timeouts.
"""

from __future__ import annotations

import json
from typing import Any

from tests.kind.kind_cluster import KServeCluster
from tests.kind.kind_install import KUBECTL_GRACE_S

CLIENT_CONTAINER = "client"
ATTEMPT_TIMEOUT_S = 5
# The node may still be starting the container when the window opens; then the try itself.
POD_START_S = 90
CALL_S = 30  # each of the other kubectl calls: apply, logs, describe, delete


def worst_case_s(window_s: int) -> int:
    """What post_from_pod may take: the apply, the wait, logs and describe, the delete."""
    return 4 * CALL_S + window_s + POD_START_S + KUBECTL_GRACE_S


SCRIPT = f"""
import json, sys, time, urllib.error, urllib.request
url, body, window = sys.argv[1], sys.argv[2].encode(), float(sys.argv[3])
deadline, errors = time.monotonic() + window, []
while True:
    request = urllib.request.Request(url, data=body, headers={{"Content-Type": "application/json"}})
    try:
        with urllib.request.urlopen(request, timeout={ATTEMPT_TIMEOUT_S}) as response:
            print(json.dumps({{"status": response.status, "body": json.load(response), "errors": errors}}))
            break
    except urllib.error.HTTPError as error:
        print(json.dumps({{"status": error.code, "body": error.read().decode(errors="replace"), "errors": errors}}))
        break
    except OSError as error:
        errors.append(f"{{type(error).__name__}}: {{error}}")
    if time.monotonic() > deadline:
        print(json.dumps({{"status": None, "errors": errors}}))
        break
    time.sleep(1)
"""


def client_pod(name: str, namespace: str, image: str, url: str, body: dict[str, Any], window_s: int) -> dict:
    """The Pod: restricted-compliant, no service-account token, gone after ``window_s`` + POD_START_S."""
    container = {
        "name": CLIENT_CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",  # the image kind loaded; no registry holds it
        "command": ["python3", "-c", SCRIPT, url, json.dumps(body), str(window_s)],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/name": "reranker-e2e-client"}},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": window_s + POD_START_S,
            "automountServiceAccountToken": False,
            "containers": [container],
        },
    }


def post_from_pod(
    cluster: KServeCluster, namespace: str, image: str, url: str, body: dict[str, Any], window_s: int
) -> dict[str, Any]:
    """Run the client Pod in ``namespace`` and return its JSON line; the Pod is deleted after."""
    name = "reranker-e2e-client"
    manifest = json.dumps(client_pod(name, namespace, image, url, body, window_s))
    cluster.kubectl("apply", "-f", "-", stdin=manifest, timeout=CALL_S)
    try:
        wait_s = window_s + POD_START_S
        finished = cluster.kubectl(
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            f"pod/{name}",
            "-n",
            namespace,
            f"--timeout={wait_s}s",
            check=False,
            timeout=wait_s + KUBECTL_GRACE_S,
        )
        logs = cluster.kubectl(
            "logs", f"pod/{name}", "-n", namespace, "-c", CLIENT_CONTAINER, check=False, timeout=CALL_S
        )
        if finished.returncode != 0:
            described = cluster.kubectl("describe", "pod", name, "-n", namespace, check=False, timeout=CALL_S)
            raise AssertionError(
                f"the client pod in {namespace} did not finish: {finished.stderr}\n{described.stdout}\n{logs.stdout}"
            )
        return json.loads(logs.stdout.strip().splitlines()[-1])
    finally:
        cluster.kubectl(
            "delete", "pod", name, "-n", namespace, "--ignore-not-found", "--wait=false", check=False, timeout=CALL_S
        )
