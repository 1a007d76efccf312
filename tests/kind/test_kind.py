"""Kind suite (``make e2e``): overlays/cpu on a real KServe, from rollout to uninstall.

pytest-kind's cluster gets cert-manager, the components' third-party CRDs and KServe v0.20.0 in
Standard mode (kind_install.INSTALL_PLAN). The CPU image is built from serving/Dockerfile and
loaded into it; tests/kind/kind-overlay (overlays/cpu with components/network-policy) goes into a
namespace that enforces the restricted Pod Security Standard, and KServe's storage initializer
downloads the model from the Hugging Face hub (kind_install.DEPLOY_PLAN). Then:

- the InferenceService is Ready and answers the seed's request, through a port-forward to its
  predictor Service, in the seed's shape and order;
- KServe runs the very container the local contract suite builds;
- the predictor and its storage initializer passed the restricted standard, which is enforced;
- the NetworkPolicy lets a client in KServe's namespace call the predictor and refuses one from
  a namespace it does not list;
- ``kubectl delete -k`` leaves nothing behind (the last test: it removes the deployment).

Each test times its own body (the fixtures are bounded by their own timeouts, kind_budget.py).
Failures print the cluster's pods, logs and events (conftest.py).
"""

from __future__ import annotations

import json

import httpx
import pytest
from imagebuild.build import BuildOptions, build, dockerfile_arg, host_pip_sources, torch_index_for
from imagebuild.container_engine import ContainerEngine

from bundlecheck.kserve.container_merge import KSERVE_CONTAINER
from bundlecheck.kserve.predictor_container import predictor_container
from bundlecheck.render import render
from tests.kind.kind_budget import (
    IMAGE_BUILD_S,
    IMAGE_LOAD_S,
    KUBECTL_READ_S,
    PORT_FORWARD_READY_S,
    PORT_FORWARD_STOP_S,
)
from tests.kind.kind_client_pod import post_from_pod
from tests.kind.kind_install import (
    DEPLOY_PLAN,
    E2E_NAMESPACE,
    ISVC_NAME,
    KIND_OVERLAY,
    KSERVE_NAMESPACE,
    KUBECTL_GRACE_S,
    RESTRICTED,
    CreateNamespace,
)
from tests.support.app import SEED_REQUEST, free_port, wait_http_ok
from tests.support.seed_contract import assert_seed_ranking, assert_seed_response_shape

pytestmark = pytest.mark.e2e

PREDICTOR_SERVICE = f"{ISVC_NAME}-predictor"
STORAGE_INITIALIZER = "storage-initializer"  # the init container's name KServe injects
OUTSIDER_NAMESPACE = "reranker-e2e-outsider"  # no label the NetworkPolicy lists
REACH_WINDOW_S = 60  # a new client pod's address reaches the policy's view within seconds
REFUSE_WINDOW_S = 20  # an admitted path would answer well within this
UNINSTALL_WAIT_S = 180  # KServe's finalizer, then the predictor pod's 30 s grace period
CALL_S = KUBECTL_READ_S
# What KServe's Standard mode makes from an InferenceService.
KSERVE_MADE = "deployment,replicaset,pod,service,ingress,horizontalpodautoscaler"


@pytest.fixture(scope="module")
def expected_container():
    return predictor_container(render(KIND_OVERLAY).objects)


@pytest.fixture(scope="module")
def deployed(kind_cluster, expected_container, tmp_path_factory):
    """The kind overlay in its fresh restricted namespace, its image built and loaded, Ready."""
    image = expected_container.image
    # Docker's engine, with this machine's pip sources (a proxy's CA, a mirror) as make image uses.
    sources = host_pip_sources()
    options = BuildOptions(torch_index_url=torch_index_for(sources, dockerfile_arg("TORCH_VERSION")), sources=sources)
    log = tmp_path_factory.mktemp("build") / "build.log"
    build(ContainerEngine("docker"), "cpu", image, options, log, timeout=IMAGE_BUILD_S)
    kind_cluster.load_image(image, timeout=IMAGE_LOAD_S)
    kind_cluster.run(DEPLOY_PLAN)
    return kind_cluster


@pytest.fixture(scope="module")
def base_url(deployed):
    """The predictor Service KServe made, port-forwarded: its port, its selector, the pod's port."""
    local_port = free_port()
    forward = deployed.kubectl_popen(
        "port-forward", "-n", E2E_NAMESPACE, f"service/{PREDICTOR_SERVICE}", f"{local_port}:{_service_port(deployed)}"
    )
    url = f"http://127.0.0.1:{local_port}"
    wait_http_ok(
        f"{url}/v2/health/ready", forward, lambda: forward.stdout.read(), timeout=PORT_FORWARD_READY_S, interval=1
    )
    yield url
    forward.terminate()
    forward.wait(timeout=PORT_FORWARD_STOP_S)


@pytest.mark.timeout(60, func_only=True)
def test_should_answer_the_seed_request_in_the_seeds_shape_and_order(base_url):
    response = httpx.post(f"{base_url}/openai/v1/rerank", json=SEED_REQUEST, timeout=50)
    assert response.status_code == 200, response.text
    assert_seed_response_shape(response.json())
    assert_seed_ranking(response.json())


@pytest.mark.timeout(60, func_only=True)
def test_should_run_the_container_the_local_suite_builds(deployed, expected_container):
    """KServe's own merge matches bundlecheck.kserve_command's, on which the local suite rests."""
    containers = _predictor_pod_template(deployed)["containers"]
    actual = next(c for c in containers if c["name"] == KSERVE_CONTAINER)
    assert actual.get("command") == expected_container.spec.get("command")
    assert actual["args"] == expected_container.args
    actual_env = {e["name"]: e.get("value") for e in actual.get("env") or [] if "valueFrom" not in e}
    assert expected_container.plain_env().items() <= actual_env.items()
    assert actual["readinessProbe"]["httpGet"] == expected_container.spec["readinessProbe"]["httpGet"]


@pytest.mark.timeout(120, func_only=True)
def test_should_admit_the_predictor_and_its_storage_initializer_under_the_restricted_standard(deployed):
    labels = json.loads(deployed.kubectl("get", "namespace", E2E_NAMESPACE, "-o", "json", timeout=CALL_S).stdout)
    assert dict(RESTRICTED).items() <= labels["metadata"]["labels"].items()

    pods = json.loads(
        deployed.kubectl(
            "get",
            "pods",
            "-n",
            E2E_NAMESPACE,
            "-l",
            f"serving.kserve.io/inferenceservice={ISVC_NAME}",
            "-o",
            "json",
            timeout=CALL_S,
        ).stdout
    )["items"]
    assert pods, "no predictor pod"
    for pod in pods:
        name = pod["metadata"]["name"]
        ready = {c["type"]: c["status"] for c in pod["status"].get("conditions", [])}
        assert ready.get("Ready") == "True", (name, pod["status"])
        # The storage initializer ran (it downloaded the model) and ended well.
        init = {s["name"]: s for s in pod["status"].get("initContainerStatuses", [])}
        assert STORAGE_INITIALIZER in init, (name, sorted(init))
        assert init[STORAGE_INITIALIZER]["state"].get("terminated", {}).get("exitCode") == 0, init[STORAGE_INITIALIZER]

    # The standard is enforced here: a pod with no securityContext is refused.
    refused = deployed.kubectl(
        "run",
        "reranker-e2e-unrestricted",
        "-n",
        E2E_NAMESPACE,
        f"--image={pods[0]['spec']['containers'][0]['image']}",
        "--restart=Never",
        "--dry-run=server",
        "--",
        "true",
        check=False,
        timeout=CALL_S,
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stdout + refused.stderr


@pytest.mark.timeout(330, func_only=True)
def test_should_let_a_client_in_kserves_namespace_reach_the_predictor(deployed, expected_container):
    """KServe's Gateway API gateway, kserve-ingress-gateway, runs in the kserve namespace."""
    answer = post_from_pod(
        deployed, KSERVE_NAMESPACE, expected_container.image, _rerank_url(deployed), SEED_REQUEST, REACH_WINDOW_S
    )
    assert answer["status"] == 200, answer
    assert_seed_response_shape(answer["body"])
    assert_seed_ranking(answer["body"])


@pytest.mark.timeout(360, func_only=True)
def test_should_refuse_a_client_from_a_namespace_the_policy_does_not_list(deployed, expected_container):
    deployed.run([CreateNamespace(OUTSIDER_NAMESPACE)])
    try:
        answer = post_from_pod(
            deployed, OUTSIDER_NAMESPACE, expected_container.image, _rerank_url(deployed), SEED_REQUEST, REFUSE_WINDOW_S
        )
    finally:
        deployed.kubectl("delete", "namespace", OUTSIDER_NAMESPACE, "--wait=false", check=False, timeout=CALL_S)
    # Dropped, not answered: no HTTP status at all, only failed connections.
    assert answer["status"] is None and answer["errors"], answer


@pytest.mark.timeout(UNINSTALL_WAIT_S + KUBECTL_GRACE_S + 6 * CALL_S, func_only=True)
def test_should_leave_nothing_behind_after_kubectl_delete_k(deployed):
    """Last in this module: it removes what the others test. Foreground deletion waits for what
    KServe made from the InferenceService; whatever is left after the wait is listed with the
    finalizers that hold it."""
    rendered = render(KIND_OVERLAY).objects  # four objects: one read each below
    deleted = deployed.kubectl(
        "delete",
        "-k",
        str(KIND_OVERLAY),
        "-n",
        E2E_NAMESPACE,
        "--cascade=foreground",
        "--wait=true",
        f"--timeout={UNINSTALL_WAIT_S}s",
        check=False,
        timeout=UNINSTALL_WAIT_S + KUBECTL_GRACE_S,
    )
    left = []
    for obj in rendered:  # -n is ignored for the cluster-scoped ClusterStorageContainer
        found = deployed.kubectl(
            "get",
            obj["kind"].lower(),
            obj["metadata"]["name"],
            "-n",
            E2E_NAMESPACE,
            "--ignore-not-found",
            "-o",
            "json",
            timeout=CALL_S,
        ).stdout
        left += [json.loads(found)] if found.strip() else []
    # What KServe made from the InferenceService, in a namespace that holds nothing else.
    made = deployed.kubectl("get", KSERVE_MADE, "-n", E2E_NAMESPACE, "-o", "json", timeout=CALL_S).stdout
    left += json.loads(made)["items"]
    assert not left, f"kubectl delete -k left (exit {deleted.returncode}: {deleted.stderr.strip()}):\n" + "\n".join(
        _leftover(obj) for obj in left
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def _leftover(obj: dict) -> str:
    """kind/name, and what holds it: its finalizers, and since when it is being deleted."""
    meta = obj["metadata"]
    held = f"finalizers {meta.get('finalizers', [])}, deleting since {meta.get('deletionTimestamp', 'never')}"
    return f"{obj['kind']}/{meta['name']} ({held})"


def _service_port(cluster) -> str:
    return cluster.kubectl(
        "get", "service", PREDICTOR_SERVICE, "-n", E2E_NAMESPACE, "-o", "jsonpath={.spec.ports[0].port}", timeout=CALL_S
    ).stdout.strip()


def _rerank_url(cluster) -> str:
    return f"http://{PREDICTOR_SERVICE}.{E2E_NAMESPACE}.svc.cluster.local:{_service_port(cluster)}/openai/v1/rerank"


def _predictor_pod_template(cluster) -> dict:
    deployment = cluster.kubectl(
        "get", "deployment", PREDICTOR_SERVICE, "-n", E2E_NAMESPACE, "-o", "json", timeout=CALL_S
    )
    return json.loads(deployment.stdout)["spec"]["template"]["spec"]
