"""Run a rendered predictor's ``kserve-container`` as a local process, as its pod would run it.

The command line and env come from ``bundlecheck.kserve_command`` (KServe's merge) over the
image's ENTRYPOINT, CMD and server env read from serving/Dockerfile. Only what a pod has and a
laptop has not is swapped, each in one place below:

- the paths mounted into the pod (``/mnt/models`` from the storage initializer, the runtime's
  emptyDirs such as ``/tmp``) become local directories, in args and env values alike;
- the serving port becomes a free local port, and the server binds 127.0.0.1;
- the image's console script is the same console script in this virtual environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dockerfile
import httpx

from bundlecheck.kserve.predictor_container import PredictorContainer, container_argv
from harness.server_process import terminate

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "serving" / "Dockerfile"
MODEL_MOUNT = "/mnt/models"  # where KServe mounts what the storage initializer downloaded
SHARED_MEMORY = "/dev/shm"  # the host has its own


@dataclass(frozen=True)
class ImageDefaults:
    """What a build target of serving/Dockerfile gives a container that does not override it."""

    entrypoint: list[str]
    cmd: list[str] | None
    server_env: dict[str, str]  # RERANKER_* variables: they change the server's settings


def image_defaults(image: str, path: Path = DOCKERFILE) -> ImageDefaults:
    """ENTRYPOINT, CMD and RERANKER_* env of the Dockerfile target an image tag names
    (``...:0.1.0-cpu`` is target ``cpu``), following the target's chain of stages."""
    target = image.rsplit(":", 1)[-1].rsplit("-", 1)[-1]
    stages: dict[str, tuple[str, list]] = {}
    current: list | None = None
    for command in dockerfile.parse_file(str(path)):
        if command.cmd == "FROM":
            base, *rest = command.value
            current = []
            stages[rest[1] if len(rest) == 2 else base] = (base, current)
        elif current is not None:
            current.append(command)
    if target not in stages:
        raise ValueError(f"image {image}: serving/Dockerfile has no target {target!r}")
    chain, name = [], target
    while name in stages:
        chain.insert(0, stages[name][1])
        name = stages[name][0]
    entrypoint: list[str] = []
    cmd: list[str] | None = None
    env: dict[str, str] = {}
    for command in (c for commands in chain for c in commands):
        if command.cmd == "ENTRYPOINT":
            # Docker: a new ENTRYPOINT resets an inherited CMD.
            entrypoint, cmd = _exec_form(command), None
        elif command.cmd == "CMD":
            cmd = _exec_form(command)
        elif command.cmd == "ENV":
            pairs = dict(zip(command.value[::2], command.value[1::2]))
            env.update({k: v for k, v in pairs.items() if k.startswith("RERANKER_")})
    return ImageDefaults(entrypoint, cmd, env)


@dataclass
class LocalPod:
    container: PredictorContainer
    argv: list[str]  # as the kubelet would start it, before local substitutions
    env: dict[str, str]  # image server env + container env, before local substitutions
    local_argv: list[str] = field(default_factory=list)
    local_env: dict[str, str] = field(default_factory=dict)
    ports: dict[int, int] = field(default_factory=dict)  # container port -> local port


def pod_process_spec(container: PredictorContainer) -> LocalPod:
    """The argv and env the pod's kserve-container runs with (no local substitution)."""
    defaults = image_defaults(container.image)
    argv = container_argv(container, defaults.entrypoint, defaults.cmd)
    return LocalPod(container, argv, {**defaults.server_env, **container.plain_env()})


def localize(pod: LocalPod, model_dir: Path, scratch: Path, local_port: int) -> LocalPod:
    """Fill ``local_argv``/``local_env``: mounts become directories, the port a free one."""
    paths = {MODEL_MOUNT: str(model_dir)}
    for mount in pod.container.spec.get("volumeMounts") or []:
        if mount["mountPath"] != SHARED_MEMORY:
            local = scratch / mount["name"]
            local.mkdir(parents=True, exist_ok=True)
            paths[mount["mountPath"]] = str(local)

    serving_port = pod.container.serving_port()
    program, *args = (_map_paths(a, paths) for a in pod.argv)
    args = _with_flag(_with_flag(args, "--http_port", str(local_port)), "--host", "127.0.0.1")
    pod.local_argv = [_local_program(program), *args]
    # The image's PATH and caches are this machine's; the image's server settings are not.
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("RERANKER_")}
    pod.local_env = {**inherited, **{k: _map_paths(v, paths) for k, v in pod.env.items()}}
    pod.ports = {serving_port: local_port}
    return pod


def start(pod: LocalPod, log_path: Path) -> subprocess.Popen:
    with log_path.open("w") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(pod.local_argv, env=pod.local_env, stdout=log, stderr=subprocess.STDOUT)


class ProbeFailed(AssertionError):
    """A probe of the runtime never succeeded against the running server."""


def poll_probe(
    path: str,
    port: int,
    exit_code,
    logs,
    *,
    who: str,
    timeout_s: float = 180,
    failure: type[AssertionError] = ProbeFailed,
    interval: float = 0.25,
) -> int:
    """Poll an httpGet probe as the kubelet does (success: 200-399) until it succeeds, and return
    its status. ``exit_code()`` is None while ``who`` runs; ``logs()`` says why it stopped.

    Connection refused and 503 mean "not yet". A 404 fails at once: a route the server does
    not have never starts answering, so a pod would stay unready forever."""
    url = f"http://127.0.0.1:{port}{path}"
    deadline = time.monotonic() + timeout_s
    while True:
        code = exit_code()
        if code is not None:
            raise failure(f"{who} exited with {code} before {path} succeeded:\n{logs()}")
        try:
            status = httpx.get(url, timeout=5).status_code
        except httpx.TransportError:
            status = None
        if status is not None and 200 <= status < 400:
            return status
        if status == 404:
            raise failure(f"probe path {path} answers 404: the server has no such route")
        if time.monotonic() > deadline:
            last = status if status is not None else "no connection"
            raise failure(f"probe {path} did not succeed within {timeout_s:.0f}s (last: {last}):\n{logs()}")
        time.sleep(interval)


def wait_for_probe(process: subprocess.Popen, path: str, port: int, log_path: Path, timeout_s: float = 180) -> int:
    """``poll_probe`` against a local server process."""
    return poll_probe(path, port, process.poll, lambda: _tail(log_path), who="the server", timeout_s=timeout_s)


def stop(process: subprocess.Popen) -> None:
    terminate(process, timeout=30)


def _exec_form(command) -> list[str]:
    # Shell form runs under /bin/sh -c, as Docker does.
    return list(command.value) if command.json else ["/bin/sh", "-c", " ".join(command.value)]


def _map_paths(value: str, paths: dict[str, str]) -> str:
    # One pass, whole path components only: a local directory may itself lie under /tmp.
    mounts = "|".join(re.escape(m) for m in sorted(paths, key=len, reverse=True))
    return re.sub(rf"(?<![\w./-])({mounts})(?=/|$|[^\w.-])", lambda m: paths[m.group(1)], value)


def _with_flag(args: list[str], flag: str, value: str) -> list[str]:
    """``args`` with every ``flag=X`` / ``flag X`` set to ``value``; appended when absent."""
    out, found, skip = [], False, False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg.startswith(flag + "="):
            out.append(f"{flag}={value}")
            found = True
        elif arg == flag and index + 1 < len(args):
            out += [flag, value]
            found, skip = True, True
        else:
            out.append(arg)
    return out if found else [*out, f"{flag}={value}"]


def _local_program(program: str) -> str:
    # The image installs the package's console scripts on PATH; so does this venv.
    local = Path(sys.executable).with_name(program)
    return str(local) if local.exists() else program


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
