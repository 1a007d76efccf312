"""GPU image suite (``make test-image-gpu``): the GPU (vLLM) image, built for real, runs a GPU
overlay's predictor, on CPU.

serving/Dockerfile's ``gpu`` target (vLLM with the CUDA torch it pins, ~4 GB of wheels) is built
with the same tooling as the CPU image (image_suite: imagebuild, podman). A GPU overlay
(IMAGE_GPU_OVERLAY, default a100; any GPU overlay of overlays/) is rendered and its predictor Pod built as
KServe builds it, then started with ``podman kube play`` as the CPU suite starts overlays/cpu's,
except that there is no GPU here: ``image_pod.on_cpu`` drops the overlay's GPU-only args and GPU
resource and serves with the image's torch engine on CPU (float32); image_pod.GPU_ONLY_ARGS names
each arg and why. What is checked: vLLM imports in the running server container (the engine the
GPU nodes run), the image's torch is the CUDA build vLLM pins, and the seed request is answered
through the published port with the Paris document first.
"""

from __future__ import annotations

import os

import httpx
import pytest
import tomllib
from packaging.requirements import Requirement

from bundlecheck.kserve.predictor_pod import predictor_pod
from bundlecheck.overlays import bundle_overlays
from bundlecheck.render import render
from tests.image.image_lock import lock_differences
from tests.image.image_pod import MAIN_CONTAINER, for_podman, on_cpu, play, wait_for_http_probe
from tests.support.app import SEED_REQUEST, free_port
from tests.support.local_pod import REPO
from tests.support.seed_contract import assert_seed_ranking, assert_seed_response_shape

# The first test also pays for the image build (the built_gpu_image fixture): ~4 GB of wheels.
pytestmark = [pytest.mark.image_gpu, pytest.mark.timeout(3 * 3600)]

# The GPU overlays, read from overlays/ (those whose pods request nvidia.com/gpu).
GPU_OVERLAYS = tuple(overlay.name for overlay in bundle_overlays(REPO) if overlay.gpu)
# The CUDA torch imports several GB of libraries on CPU: give the server longer than the CPU image.
READY_TIMEOUT_S = 900


def gpu_overlay() -> str:
    overlay = os.environ.get("IMAGE_GPU_OVERLAY") or "a100"
    if overlay not in GPU_OVERLAYS:
        raise pytest.UsageError(f"IMAGE_GPU_OVERLAY={overlay}: one of {', '.join(GPU_OVERLAYS)}")
    return overlay


def vllm_requirement() -> str:
    """pyproject.toml's vllm extra (vllm>=0.32,<0.33): the vLLM the GPU image must carry."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["vllm"]
    return next(r for r in extra if r.startswith("vllm"))


@pytest.fixture(scope="module")
def served_gpu_pod(request, built_gpu_image, tmp_path_factory):
    """The GPU overlay's predictor on the built GPU image, on CPU, once ready; (pod, port)."""
    rendered = predictor_pod(render(REPO / "overlays" / gpu_overlay()).objects)
    pod, _ = on_cpu(rendered)
    port = free_port()
    played = play(built_gpu_image.engine, for_podman(pod, built_gpu_image.tag, port), tmp_path_factory.mktemp("pod"))
    request.addfinalizer(played.down)
    wait_for_http_probe(played, "/v2/health/ready", port, timeout_s=READY_TIMEOUT_S)
    return played, port


def test_should_import_vllm_and_the_cuda_torch_it_pins_in_the_running_server_container(served_gpu_pod, built_gpu_image):
    played, port = served_gpu_pod
    # Inside the predictor container itself: uid 1000, read-only root, the runtime's env.
    checked = built_gpu_image.engine.command(
        "exec",
        played.container(MAIN_CONTAINER),
        "python",
        "-c",
        "import vllm, torch; print(vllm.__version__); print(torch.version.cuda)",
        check=False,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    vllm_version, cuda = checked.stdout.split()[-2:]
    wanted = Requirement(vllm_requirement())
    assert wanted.specifier.contains(vllm_version), f"vLLM {vllm_version}, pyproject.toml wants {wanted}"
    assert cuda != "None", "the GPU image carries a CPU-only torch"


def test_should_hold_exactly_its_lock(built_gpu_image):
    # Inside the image: every distribution installed against locks/gpu-py<its Python>.txt.
    lock, problems = lock_differences(built_gpu_image.engine, built_gpu_image.tag, "gpu")
    assert problems == [], f"the image differs from locks/{lock}.txt: {problems}"


def test_should_rank_the_seed_answer_first_through_the_published_port(served_gpu_pod):
    played, port = served_gpu_pod
    response = httpx.post(f"http://127.0.0.1:{port}/openai/v1/rerank", json=SEED_REQUEST, timeout=120)
    assert response.status_code == 200, response.text
    assert_seed_response_shape(response.json())
    assert_seed_ranking(response.json())
