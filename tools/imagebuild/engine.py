"""The container engine at hand (podman or docker), and the settings a locked-down host needs.

Podman runs without a daemon, so it works where Docker's engine is not available (CI VMs,
unprivileged machines). On such hosts two of its defaults fail, and ``podman_host_config``
replaces them in a containers.conf of our own (only when the user has not set CONTAINERS_CONF):

- containers get ``nofile=1048576`` by default; a process without CAP_SYS_RESOURCE cannot raise
  its hard limit above its own, so every start fails with ``setrlimit RLIMIT_NOFILE``; the
  same goes for the process limit, which podman itself runs under at 32768 at most (podman
  4.3), so containers get the host's limits, capped there;
- crun refuses hybrid cgroup hierarchies (v1 controllers plus a v2 mount); runc accepts them.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ENGINES = ("podman", "docker")
PODMAN_DEFAULT_NOFILE = 1048576
HYBRID_CGROUP_MOUNT = Path("/sys/fs/cgroup/unified")  # cgroup v2 mounted beside v1 controllers
PODMAN_OWN_NPROC = 32768  # podman lowers its own RLIMIT_NPROC to this; containers cannot exceed it
# Where podman looks for what it runs besides PATH: its helper_binaries_dir (containers.conf)
# holds the pause binary; conmon and the OCI runtimes are also looked up in the system
# directories, whatever PATH says.
PODMAN_HELPER_DIRS = ("/usr/local/libexec/podman", "/usr/local/lib/podman", "/usr/libexec/podman", "/usr/lib/podman")
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
PAUSE_BINARY = "catatonit"


class EngineError(RuntimeError):
    """An engine command failed; the message ends with what it printed."""


@dataclass
class Engine:
    name: str  # podman or docker
    env: dict[str, str] = field(default_factory=dict)  # added to every command's environment

    def command(self, *args: str, check: bool = True, timeout: float = 600, stdin: str | None = None):
        completed = subprocess.run(
            [self.name, *args], capture_output=True, text=True, timeout=timeout, input=stdin,
            env={**os.environ, **self.env},
        )
        if check and completed.returncode != 0:
            output = (completed.stderr.strip() or completed.stdout.strip())[-3000:]
            raise EngineError(f"`{self.name} {' '.join(args[:3])} ...` exited {completed.returncode}:\n{output}")
        return completed

    def has_image(self, ref: str) -> bool:
        return self.command("image", "inspect", ref, check=False, timeout=60).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.command("image", "inspect", "--format", "{{.Size}}", ref, timeout=60).stdout.strip())


def find_engine(preferred: str | None = None) -> tuple[Engine | None, str]:
    """The first engine that can run a container (``preferred``, else $CONTAINER_ENGINE, else
    podman then docker), or None and one line saying why none can."""
    chosen = preferred or os.environ.get("CONTAINER_ENGINE")
    names = [chosen] if chosen else list(ENGINES)
    problems = []
    for name in names:
        if shutil.which(name) is None:
            problems.append(f"`{name}` is not on PATH")
            continue
        engine = Engine(name, podman_host_config() if name == "podman" else {})
        info = engine.command("info", check=False, timeout=60)
        if info.returncode != 0:
            last = (info.stderr.strip().splitlines() or ["no output"])[-1]
            problems.append(f"`{name} info` failed ({last})")
            continue
        return engine, ""
    return None, "no container engine: " + "; ".join(problems)


def podman_missing_tools() -> list[str]:
    """What ``podman kube play`` needs besides podman itself that this machine lacks, one
    phrase each (empty: nothing). Podman finds all of them only when it first starts a pod, and
    then names one at a time; Debian ships each as its own package (make container-tools)."""
    missing = []
    if _podman_finds("podman") is None:
        missing.append("podman (not on PATH)")
    if _podman_finds("conmon", (*PODMAN_HELPER_DIRS, *SYSTEM_DIRS)) is None:
        missing.append("conmon (podman's container monitor)")
    # Every pod gets an infra container running the pause binary, from an image podman builds
    # locally around it ("building local pause image: finding pause binary").
    if _podman_finds(PAUSE_BINARY, PODMAN_HELPER_DIRS) is None:
        missing.append(f"{PAUSE_BINARY} (podman's pause binary, which every pod's infra container runs)")
    runc, crun = (_podman_finds(name, SYSTEM_DIRS) for name in ("runc", "crun"))
    if HYBRID_CGROUP_MOUNT.is_dir() and runc is None:
        missing.append("runc (crun refuses this host's hybrid cgroup hierarchy)")
    elif runc is None and crun is None:
        missing.append("runc or crun (an OCI runtime)")
    return missing


def _podman_finds(name: str, dirs: tuple[str, ...] = ()) -> str | None:
    return shutil.which(name, path=os.pathsep.join([*dirs, os.environ.get("PATH", "")]))


def podman_host_config(cache: Path | None = None) -> dict[str, str]:
    """CONTAINERS_CONF for this host when podman's defaults cannot start containers here, else {}."""
    if os.environ.get("CONTAINERS_CONF"):
        return {}  # the user's own configuration wins
    containers, engine = [], []
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile != resource.RLIM_INFINITY and nofile < PODMAN_DEFAULT_NOFILE:
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = PODMAN_OWN_NPROC if nproc == resource.RLIM_INFINITY else min(nproc, PODMAN_OWN_NPROC)
        limits = [f'"nofile={nofile}:{nofile}"', f'"nproc={nproc}:{nproc}"']
        containers.append(f"default_ulimits = [{', '.join(limits)}]")
    hybrid_cgroups = HYBRID_CGROUP_MOUNT.is_dir()
    # Podman looks for runc in the system directories, whatever PATH says.
    if hybrid_cgroups and shutil.which("runc", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin:/sbin:/bin"):
        engine += ['runtime = "runc"', 'cgroup_manager = "cgroupfs"']
    if not containers and not engine:
        return {}
    text = "# Written by kserve-reranker's imagebuild.engine for this host (see its docstring).\n"
    if containers:
        text += "[containers]\n" + "\n".join(containers) + "\n"
    if engine:
        text += "[engine]\n" + "\n".join(engine) + "\n"
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kserve-reranker"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "containers.conf"
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return {"CONTAINERS_CONF": str(path)}
