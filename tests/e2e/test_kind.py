"""Kind suite (``make e2e``): overlays/cpu on a real KServe answers the seed's request.

The CPU image is built from serving/Dockerfile and loaded into pytest-kind's cluster with
cert-manager and KServe v0.20.0 (Standard mode); tests/e2e/kind-overlay applies overlays/cpu
without the model download, so the image's packaged all-MiniLM-L6-v2 is served. The
InferenceService must become Ready, answer the seed's request through a port-forward to its
predictor Service in the seed's shape and order, and run the very command line the local
contract suite builds. Failures print the pods' logs and events (conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from imagebuild.build import BuildOptions, build, dockerfile_arg, host_pip_sources, torch_index_for
from imagebuild.engine import Engine

from bundlecheck.kserve_command import KSERVE_CONTAINER, predictor_container
from bundlecheck.render import render
from tests.e2e.kind_cluster import E2E_NAMESPACE, ISVC_NAME
from tests.support.app import SEED_REQUEST, free_port, wait_http_ok
from tests.support.seed_contract import assert_seed_ranking, assert_seed_response_shape

# The first test also pays for the cluster, the image build and the rollout (fixtures).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(5400)]

KIND_OVERLAY = Path(__file__).parent / "kind-overlay"
IMAGE_BUILD_TIMEOUT_S = 2400  # the first build downloads torch's CPU wheel and the base image


@pytest.fixture(scope="module")
def expected_container():
    return predictor_container(render(KIND_OVERLAY).objects)


@pytest.fixture(scope="module")
def deployed(kind_cluster, expected_container, tmp_path_factory):
    """The kind overlay applied in a fresh namespace, with its image built and loaded, Ready."""
    image = expected_container.image
    # Docker's engine, with this machine's pip sources (a proxy's CA, a mirror) as make image uses.
    sources = host_pip_sources()
    options = BuildOptions(torch_index_url=torch_index_for(sources, dockerfile_arg("TORCH_VERSION")), sources=sources)
    build(Engine("docker"), "cpu", image, options, tmp_path_factory.mktemp("build") / "build.log",
          timeout=IMAGE_BUILD_TIMEOUT_S)
    kind_cluster.load_image(image)

    kind_cluster.kubectl("delete", "namespace", E2E_NAMESPACE, "--ignore-not-found", "--wait=true", timeout=600)
    kind_cluster.kubectl("create", "namespace", E2E_NAMESPACE)
    kind_cluster.apply_with_retry("-k", str(KIND_OVERLAY), "-n", E2E_NAMESPACE)
    kind_cluster.kubectl("wait", "--for=condition=Ready", f"inferenceservice/{ISVC_NAME}", "-n", E2E_NAMESPACE,
                         "--timeout=900s", timeout=930)
    return kind_cluster


@pytest.fixture(scope="module")
def base_url(deployed):
    """The predictor Service KServe made, port-forwarded: its port, its selector, the pod's port."""
    service = f"{ISVC_NAME}-predictor"
    port = deployed.kubectl(
        "get", "service", service, "-n", E2E_NAMESPACE, "-o", "jsonpath={.spec.ports[0].port}"
    ).stdout.strip()
    local_port = free_port()
    forward = deployed.kubectl_popen("port-forward", "-n", E2E_NAMESPACE, f"service/{service}", f"{local_port}:{port}")
    url = f"http://127.0.0.1:{local_port}"
    wait_http_ok(f"{url}/v2/health/ready", forward, lambda: forward.stdout.read(), timeout=60, interval=1)
    yield url
    forward.terminate()
    forward.wait(timeout=30)


def test_should_answer_the_seed_request_in_the_seeds_shape_and_order(base_url):
    response = httpx.post(f"{base_url}/openai/v1/rerank", json=SEED_REQUEST, timeout=60)
    assert response.status_code == 200, response.text
    assert_seed_response_shape(response.json())
    assert_seed_ranking(response.json())


def test_should_run_the_container_the_local_suite_builds(deployed, expected_container):
    """KServe's own merge matches bundlecheck.kserve_command's, on which the local suite rests."""
    deployment = deployed.kubectl(
        "get", "deployment", f"{ISVC_NAME}-predictor", "-n", E2E_NAMESPACE, "-o", "json"
    )
    containers = json.loads(deployment.stdout)["spec"]["template"]["spec"]["containers"]
    actual = next(c for c in containers if c["name"] == KSERVE_CONTAINER)
    assert actual.get("command") == expected_container.spec.get("command")
    assert actual["args"] == expected_container.args
    actual_env = {e["name"]: e.get("value") for e in actual.get("env") or [] if "valueFrom" not in e}
    assert expected_container.plain_env().items() <= actual_env.items()
    assert actual["readinessProbe"]["httpGet"] == expected_container.spec["readinessProbe"]["httpGet"]
