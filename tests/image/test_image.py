"""Image suite (``make test-image``): the CPU image, built for real, runs as KServe's predictor.

serving/Dockerfile's ``cpu`` target is built with the container engine at hand (image_suite).
overlays/cpu is rendered and its predictor Pod built as KServe builds it
(bundlecheck.predictor_pod), then started with ``podman kube play`` (image_pod): read-only root,
uid 1000, all capabilities dropped, the runtime's /tmp and /dev/shm volumes, the model placed in
/mnt/models by an init container. The probes the ServingRuntime declares are sent from outside,
then the seed's request. Two broken variants show that the suite catches what breaks a pod.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
import yaml

from bundlecheck.kserve.predictor_container import PROBES
from bundlecheck.kserve.predictor_pod import MODEL_MOUNT, predictor_pod
from bundlecheck.render import render
from tests.image.image_lock import lock_differences, tampered_build_command, tampered_context
from tests.image.image_pod import (
    MAIN_CONTAINER,
    PodFailed,
    for_podman,
    play,
    process_credentials,
    read_only_mounts,
    wait_for_http_probe,
)
from tests.support.app import SEED_REQUEST, free_port
from tests.support.local_pod import REPO
from tests.support.seed_contract import assert_seed_ranking, assert_seed_response_shape

# The first test also pays for the image build (the built_image fixture).
pytestmark = [pytest.mark.image, pytest.mark.timeout(3600)]

RUNTIME_UID = 1000  # base/servingruntime.yaml securityContext.runAsUser


def cpu_overlay_pod(overlay: Path = REPO / "overlays" / "cpu") -> dict:
    return predictor_pod(render(overlay).objects)


@pytest.fixture(scope="module")
def served_pod(request, built_image, tmp_path_factory):
    """overlays/cpu's predictor, running on the built image; (pod, rendered, port)."""
    rendered = cpu_overlay_pod()
    port = free_port()
    played = play(built_image.engine, for_podman(rendered, built_image.tag, port), tmp_path_factory.mktemp("pod"))
    request.addfinalizer(played.down)
    return played, rendered, port


def test_should_answer_every_probe_of_the_rendered_runtime_on_its_port(served_pod):
    played, rendered, host_port = served_pod
    container = next(c for c in rendered["spec"]["containers"] if c["name"] == MAIN_CONTAINER)
    serving_port = container["ports"][0]["containerPort"]
    probes = {kind: container[kind]["httpGet"] for kind in PROBES if kind in container}
    assert set(probes) == set(PROBES), "the cpu overlay's runtime declares all three probes"
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):  # the kubelet's order
        probe = probes[kind]
        assert probe["port"] == serving_port, (
            f"{kind} probes port {probe['port']}, the server listens on {serving_port}"
        )
        assert 200 <= wait_for_http_probe(played, probe["path"], host_port) < 400


def test_should_rank_the_seed_answer_first_through_the_published_port(served_pod):
    played, rendered, port = served_pod
    wait_for_http_probe(played, "/v2/health/ready", port)
    response = httpx.post(f"http://127.0.0.1:{port}/openai/v1/rerank", json=SEED_REQUEST, timeout=60)
    assert response.status_code == 200, response.text
    assert_seed_response_shape(response.json())
    assert_seed_ranking(response.json())


def test_should_run_the_server_as_uid_1000_with_no_capabilities_and_no_privilege_gain(served_pod):
    played, rendered, port = served_pod
    wait_for_http_probe(played, "/v2/health/ready", port)
    credentials = process_credentials(played.host_pid())  # the kernel's view, not the spec's
    assert credentials.uid == RUNTIME_UID
    assert credentials.effective_capabilities == 0, hex(credentials.effective_capabilities)
    assert credentials.no_new_privileges, "allowPrivilegeEscalation: false sets no_new_privs"


def test_should_write_nothing_outside_the_runtimes_volumes(served_pod):
    played, rendered, port = served_pod
    wait_for_http_probe(played, "/v2/health/ready", port)
    # Serve a request first: a cache written on first use would show up now.
    httpx.post(f"http://127.0.0.1:{port}/openai/v1/rerank", json=SEED_REQUEST, timeout=60).raise_for_status()
    mounts = read_only_mounts(played.host_pid())
    assert mounts["/"] is True, "the root file system is mounted read-only"
    assert mounts[MODEL_MOUNT] is True, "the model volume is read-only to the server"
    container = next(c for c in rendered["spec"]["containers"] if c["name"] == MAIN_CONTAINER)
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp", "/dev/shm"}
    assert all(mounts[path] is False for path in writable)
    # The runtime itself adds mount points (volumes, /etc/hosts, ...) and their directories.
    runtime_made = {str(parent) for point in mounts for parent in (Path(point), *Path(point).parents)}
    written = [path for path in played.diff() if path not in runtime_made]
    assert written == [], "the container wrote to its own file system"


# What the image must not carry: the bundle's tools (tools/), which are a distribution of their own.
BUNDLE_TOOLS = ("bundlecheck", "imagebuild", "docgen")

# Run inside the image: every installed distribution with the top-level modules it provides, and
# which of the bundle's tools' modules Python can find.
LIST_INSTALLED = """
import importlib.metadata as m, importlib.util as u, json, sys
dists = {d.metadata["Name"].lower(): sorted({f.parts[0] for f in (d.files or []) if f.suffix == ".py"})
         for d in m.distributions()}
print(json.dumps({"dists": dists, "found": [n for n in sys.argv[1:] if u.find_spec(n)]}))
"""


def test_should_install_the_server_and_none_of_the_bundles_tools(built_image):
    completed = built_image.engine.command(
        "run", "--rm", "--entrypoint", "python", built_image.tag, "-c", LIST_INSTALLED, *BUNDLE_TOOLS, timeout=120
    )
    installed = json.loads(completed.stdout)
    assert installed["found"] == [], f"the image can import the bundle's tools: {installed['found']}"
    assert "kserve-reranker-tools" not in installed["dists"]
    # The server's own distribution is there and provides the server package alone.
    assert "kserve-reranker" in installed["dists"], sorted(installed["dists"])
    server_modules = set(installed["dists"]["kserve-reranker"]) - {"__editable__"}
    assert server_modules <= {"reranker"}, server_modules


def test_should_hold_exactly_its_lock(built_image):
    # Inside the image: every distribution installed against locks/cpu-py<its Python>.txt.
    lock, problems = lock_differences(built_image.engine, built_image.tag, "cpu")
    assert problems == [], f"the image differs from locks/{lock}.txt: {problems}"


def test_should_fail_the_build_on_a_lock_with_a_wrong_hash(built_image, tmp_path):
    # serving/Dockerfile's dependency stage, on the suite's base image, from a context whose lock
    # (the one this Python picks) pins a real release under a hash that no file has.
    lock, _ = lock_differences(built_image.engine, built_image.tag, "cpu")
    context, package = tampered_context(lock, tmp_path)
    built = built_image.engine.command(
        *tampered_build_command(built_image, context, "deps-cpu"), check=False, timeout=900
    )
    output = built.stdout + built.stderr
    assert built.returncode != 0, output[-3000:]
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in output, output[-3000:]
    assert package.split("==")[0] in output


def test_should_carry_the_tracing_exporters_that_an_otlp_endpoint_turns_on(built_image):
    # Tracing is off until OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set; then the server imports the
    # SDK and the exporter of the configured protocol, which must be in the image.
    modules = (
        "opentelemetry.sdk.trace",
        "opentelemetry.exporter.otlp.proto.http.trace_exporter",
        "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    )
    completed = built_image.engine.command(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        built_image.tag,
        "-c",
        "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]; print('ok')",
        *modules,
        check=False,
        timeout=120,
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "ok", completed.stderr[-2000:]


def test_should_catch_an_image_that_writes_to_its_read_only_root(built_image, played_pods, tmp_path):
    podman = built_image.engine  # image_suite builds with podman only: it also runs the Pod
    # The same image, but its entrypoint first writes a file next to the code, as a server that
    # caches into its install directory would.
    broken_tag = "localhost/kserve-reranker:test-cpu-writes-root"
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(
        f"FROM {built_image.tag}\n"
        'ENTRYPOINT ["/bin/sh", "-c", '
        '"touch /opt/venv/.first-run && exec reranker-server \\"$@\\"", "reranker-server"]\n'
    )
    podman.command("build", "-t", broken_tag, str(context), timeout=300)
    port = free_port()
    played = play(podman, for_podman(cpu_overlay_pod(), broken_tag, port), tmp_path / "pod")
    played_pods.append(played)
    with pytest.raises(PodFailed, match=r"(?s)kserve-container exited with 1 .*Read-only file system"):
        wait_for_http_probe(played, "/v2/health/live", port)


def test_should_catch_a_runtime_arg_the_images_server_rejects(built_image, played_pods, tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(REPO / "overlays" / "cpu", overlay)],
                "patches": [
                    {
                        "target": {"kind": "InferenceService", "name": "reranker-model"},
                        "patch": yaml.safe_dump(
                            [{"op": "add", "path": "/spec/predictor/model/args/-", "value": "--max_batch_tokns=4096"}]
                        ),
                    }
                ],
            }
        )
    )
    port = free_port()
    played = play(built_image.engine, for_podman(cpu_overlay_pod(overlay), built_image.tag, port), tmp_path / "pod")
    played_pods.append(played)
    with pytest.raises(
        PodFailed, match=r"(?s)kserve-container exited with 2 .*unrecognized arguments: --max_batch_tokns=4096"
    ):
        wait_for_http_probe(played, "/v2/health/live", port)
