"""Local contract suite: what the bundle deploys is what the server runs, without a cluster.

Each overlay is rendered and its predictor's kserve-container built as KServe builds it
(bundlecheck.kserve_command). Every overlay's command line goes through the server's own
parser, its probes through the server's routes; overlays/cpu is then started as a real process
on a local model and must pass its own readiness probe and answer the seed's request.
Two broken overlays (built in tmp_path on top of real ones) show that these checks fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
import yaml

from bundlecheck.kserve.predictor_container import PROBES, predictor_container
from bundlecheck.render import render
from tests.bundle.contract.contract_checks import ContractViolation, check_command_line, check_probes_routed
from tests.support.app import SEED_REQUEST, free_port
from tests.support.local_pod import REPO, ProbeFailed, localize, pod_process_spec, start, stop, wait_for_probe
from tests.support.seed_contract import assert_seed_ranking, assert_seed_response_shape

OVERLAYS = sorted(p.parent.name for p in (REPO / "overlays").glob("*/kustomization.yaml"))
GPU_OVERLAYS = [name for name in OVERLAYS if name != "cpu"]


def overlay_pod(path: Path):
    return pod_process_spec(predictor_container(render(path).objects))


def overlay_on_top(tmp_path: Path, overlay: str, patch: list[dict], target: dict) -> Path:
    """A kustomization in tmp_path: a real overlay plus one JSON6902 patch."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "patch.yaml").write_text(yaml.safe_dump(patch))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "overlays" / overlay, tmp_path)],
        "patches": [{"path": "patch.yaml", "target": target}],
    }
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return tmp_path


@pytest.fixture
def running_pod(tmp_path):
    """Start a LocalPod on a model; stop every process started, even when the test fails."""
    processes = []

    def run(pod, model_dir: Path):
        localize(pod, model_dir, tmp_path / "volumes", free_port())
        log = tmp_path / "server.log"
        processes.append(start(pod, log))
        return processes[-1], log

    yield run
    for process in processes:
        stop(process)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_should_accept_each_overlays_command_line_with_the_servers_own_parser(overlay):
    pod = overlay_pod(REPO / "overlays" / overlay)
    settings = check_command_line(pod, model_name=SEED_REQUEST["model"])
    check_probes_routed(pod, settings)


@pytest.mark.parametrize("overlay", GPU_OVERLAYS)
def test_should_parse_the_gpu_dtype_each_gpu_overlay_asks_for(overlay):
    pod = overlay_pod(REPO / "overlays" / overlay)
    settings = check_command_line(pod, model_name=SEED_REQUEST["model"])
    asked = [a.split("=", 1)[1] for a in pod.argv if a.startswith("--dtype=")]
    assert asked and settings.dtype == asked[-1] and settings.dtype in ("bfloat16", "float16")


@pytest.mark.slow
def test_should_serve_the_seed_request_from_the_cpu_overlays_own_command(running_pod, minilm_dir):
    pod = overlay_pod(REPO / "overlays" / "cpu")
    process, log = running_pod(pod, minilm_dir)
    ready_path, ready_port = pod.container.http_probe("readinessProbe")
    wait_for_probe(process, ready_path, pod.ports[ready_port], log)
    for kind in PROBES:  # startup and liveness succeed too once the server is ready
        path, port = pod.container.http_probe(kind)
        wait_for_probe(process, path, pod.ports[port], log, timeout_s=10)

    response = httpx.post(
        f"http://127.0.0.1:{pod.ports[pod.container.serving_port()]}/openai/v1/rerank", json=SEED_REQUEST, timeout=60
    )
    assert response.status_code == 200, response.text
    assert_seed_response_shape(response.json())
    assert_seed_ranking(response.json())


def test_should_fail_the_parser_check_for_a_misspelt_overlay_flag(tmp_path):
    typo = [{"op": "add", "path": "/spec/predictor/model/args/-", "value": "--dtpye=bfloat16"}]
    broken = overlay_on_top(tmp_path, "h100", typo, {"kind": "InferenceService", "name": "reranker-model"})
    with pytest.raises(ContractViolation, match=r"unrecognized arguments: --dtpye=bfloat16"):
        check_command_line(overlay_pod(broken), model_name=SEED_REQUEST["model"])


def test_should_fail_the_model_name_check_when_the_overlay_drops_the_seeds_name(tmp_path):
    renamed = [{"op": "replace", "path": "/spec/predictor/model/args/0", "value": "--model_name=bge"}]
    broken = overlay_on_top(tmp_path, "l4", renamed, {"kind": "InferenceService", "name": "reranker-model"})
    with pytest.raises(ContractViolation, match=r"names its model 'bge'; clients send 'reranker'"):
        check_command_line(overlay_pod(broken), model_name=SEED_REQUEST["model"])


UNSERVED_READINESS_PATH = [
    {"op": "replace", "path": "/spec/containers/0/readinessProbe/httpGet/path", "value": "/healthz/ready"}
]


def test_should_fail_the_route_check_for_a_probe_path_the_server_does_not_answer(tmp_path):
    broken = overlay_on_top(tmp_path, "cpu", UNSERVED_READINESS_PATH, {"kind": "ServingRuntime"})
    pod = overlay_pod(broken)
    settings = check_command_line(pod, model_name=SEED_REQUEST["model"])
    with pytest.raises(ContractViolation, match=r"readinessProbe probes /healthz/ready: the server has no GET route"):
        check_probes_routed(pod, settings)


@pytest.mark.slow
def test_should_fail_the_running_probe_for_a_path_the_server_does_not_answer(
    tmp_path, running_pod, tiny_cross_encoder_dir
):
    broken = overlay_on_top(tmp_path / "overlay", "cpu", UNSERVED_READINESS_PATH, {"kind": "ServingRuntime"})
    pod = overlay_pod(broken)
    process, log = running_pod(pod, tiny_cross_encoder_dir)
    path, port = pod.container.http_probe("readinessProbe")
    with pytest.raises(ProbeFailed, match=r"probe path /healthz/ready answers 404"):
        wait_for_probe(process, path, pod.ports[port], log)


def test_should_fail_the_port_check_when_a_probe_targets_another_port(tmp_path):
    other_port = [{"op": "replace", "path": "/spec/containers/0/livenessProbe/httpGet/port", "value": 9090}]
    broken = overlay_on_top(tmp_path, "cpu", other_port, {"kind": "ServingRuntime"})
    pod = overlay_pod(broken)
    settings = check_command_line(pod, model_name=SEED_REQUEST["model"])
    with pytest.raises(ContractViolation, match=r"livenessProbe probes port 9090; the server listens on 8080"):
        check_probes_routed(pod, settings)
