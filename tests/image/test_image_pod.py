"""The rendered predictor Pod, as podman runs it here (image_pod.for_podman), and the /proc
readers the image suite checks the running server with."""

from __future__ import annotations

import os

import pytest

from bundlecheck.kserve.predictor_container import PROBES
from bundlecheck.kserve.predictor_pod import MODEL_MOUNT, STORAGE_INITIALIZER, predictor_pod
from bundlecheck.overlays import bundle_overlays
from bundlecheck.render import render
from tests.image.image_pod import (
    COPY_PACKAGED_MODEL,
    GPU_ONLY_ARGS,
    GPU_RESOURCE,
    MAIN_CONTAINER,
    for_podman,
    on_cpu,
    process_credentials,
    read_only_mounts,
)
from tests.support.local_pod import REPO

IMAGE = "localhost/kserve-reranker:test-cpu"


def cpu_pod() -> dict:
    return predictor_pod(render(REPO / "overlays" / "cpu").objects)


def containers(pod: dict) -> dict[str, dict]:
    spec = pod["spec"]
    return {c["name"]: c for c in [*spec.get("initContainers", []), *spec["containers"]]}


def test_should_run_both_containers_from_the_built_image_and_never_restart():
    pod = for_podman(cpu_pod(), IMAGE, 18080)
    assert {c["image"] for c in containers(pod).values()} == {IMAGE}
    assert pod["spec"]["restartPolicy"] == "Never"


def test_should_keep_the_rendered_security_context_volumes_and_command_line():
    rendered = cpu_pod()
    pod = for_podman(rendered, IMAGE, 18080)
    before, after = containers(rendered)[MAIN_CONTAINER], containers(pod)[MAIN_CONTAINER]
    for key in ("args", "env", "securityContext", "volumeMounts", "resources"):
        assert after[key] == before[key], key
    assert pod["spec"]["volumes"] == rendered["spec"]["volumes"]
    assert after["securityContext"]["readOnlyRootFilesystem"] is True


def test_should_publish_the_serving_port_on_loopback_and_leave_the_probes_to_the_test():
    pod = for_podman(cpu_pod(), IMAGE, 18080)
    main = containers(pod)[MAIN_CONTAINER]
    assert main["ports"][0]["hostPort"] == 18080 and main["ports"][0]["hostIP"] == "127.0.0.1"
    assert not set(PROBES) & set(main)


def test_should_stand_in_for_the_storage_initializer_with_the_packaged_model():
    rendered = cpu_pod()
    pod = for_podman(rendered, IMAGE, 18080)
    init = containers(pod)[STORAGE_INITIALIZER]
    assert init["command"] == COPY_PACKAGED_MODEL and "args" not in init
    assert init["command"][-1] == MODEL_MOUNT
    assert not any("valueFrom" in e for e in init.get("env", []))
    assert init["securityContext"] == containers(rendered)[STORAGE_INITIALIZER]["securityContext"]
    assert init["volumeMounts"] == containers(rendered)[STORAGE_INITIALIZER]["volumeMounts"]


def test_should_read_this_processs_own_credentials_and_mounts_from_proc():
    credentials = process_credentials(os.getpid())
    assert (credentials.uid, credentials.gid) == (os.geteuid(), os.getegid())
    mounts = read_only_mounts(os.getpid())
    assert "/" in mounts and all(isinstance(v, bool) for v in mounts.values())


def gpu_pod(overlay: str) -> dict:
    return predictor_pod(render(REPO / "overlays" / overlay).objects)


@pytest.mark.parametrize("overlay", [overlay.name for overlay in bundle_overlays(REPO) if overlay.gpu])
def test_should_run_a_gpu_overlay_on_the_torch_engine_on_cpu_without_its_gpu_only_args(overlay):
    rendered = gpu_pod(overlay)
    pod, changed = on_cpu(rendered)
    before, after = containers(rendered)[MAIN_CONTAINER], containers(pod)[MAIN_CONTAINER]
    flags = [arg.split("=", 1)[0] for arg in after["args"]]
    assert after["args"][-2:] == ["--backend=torch", "--dtype=float32"]  # the server takes the last value
    assert flags.count("--backend") == flags.count("--dtype") == 1
    assert not {"--gpu_memory_utilization", "--max_num_seqs", "--max_num_batched_tokens"} & set(flags)
    # Only GPU_ONLY_ARGS changed: the model args both engines read stay, in their order.
    assert [a for a in before["args"] if a not in changed] == after["args"][:-2]
    assert all(arg.split("=", 1)[0] in GPU_ONLY_ARGS for arg in changed)
    assert "--max_model_len=512" in after["args"]
    assert GPU_RESOURCE in before["resources"]["limits"]
    assert GPU_RESOURCE not in after["resources"]["limits"] and GPU_RESOURCE not in after["resources"]["requests"]
    assert after["resources"]["limits"]["memory"] == before["resources"]["limits"]["memory"]
    for key in ("env", "securityContext", "volumeMounts"):
        assert after[key] == before[key], key


def test_should_drop_the_args_sized_for_the_real_model_with_the_storage_initializer():
    pod, _ = on_cpu(gpu_pod("h100"))
    args = containers(for_podman(pod, IMAGE, 18080))[MAIN_CONTAINER]["args"]
    assert not any(arg.startswith("--max_model_len") for arg in args)  # the stand-in model reads 256 tokens
    assert "--backend=torch" in args


def test_should_expand_args_as_the_kubelet_does():
    from tests.image.image_pod import kubelet_expand

    env = {"PORT": "8080"}
    assert kubelet_expand("ln -sf /proc/$$$$/root/models /mnt/models", env) == "ln -sf /proc/$$/root/models /mnt/models"
    assert kubelet_expand("--port=$(PORT) $(UNSET) $$(PORT) $x", env) == "--port=8080 $(UNSET) $(PORT) $x"


def test_should_keep_a_model_images_containers_on_their_own_image():
    """An oci:// model: the modelcar and its init container run the model image; the kubelet's
    expansion reaches their commands."""
    import copy

    objects = render(REPO / "overlays" / "cpu").objects
    model = "localhost/kserve-reranker-model:test"
    isvc = next(o for o in objects if o["kind"] == "InferenceService")
    isvc = copy.deepcopy(isvc)
    isvc["spec"]["predictor"]["model"]["storageUri"] = f"oci://{model}"
    pod = for_podman(predictor_pod([o for o in objects if o["kind"] != "InferenceService"] + [isvc]), IMAGE, 18080)
    found = containers(pod)
    assert found["modelcar"]["image"] == found["modelcar-init"]["image"] == model
    assert found[MAIN_CONTAINER]["image"] == IMAGE
    assert "/proc/$$/root/models" in found["modelcar"]["args"][2]
