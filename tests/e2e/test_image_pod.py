"""The rendered predictor Pod, as podman runs it here (image_pod.for_podman), and the /proc
readers the image suite checks the running server with."""

from __future__ import annotations

import os

from image_pod import COPY_PACKAGED_MODEL, MAIN_CONTAINER, for_podman, process_credentials, read_only_mounts
from local_pod import REPO

from bundlecheck.kserve_command import PROBES
from bundlecheck.predictor_pod import MODEL_MOUNT, STORAGE_INITIALIZER, predictor_pod
from bundlecheck.render import render

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
