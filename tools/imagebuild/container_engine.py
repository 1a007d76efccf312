"""The container engine at hand (podman or docker), and the settings a locked-down host needs.

Podman runs without a daemon, so it works where Docker's engine is not available (CI VMs,
unprivileged machines). On such hosts two of its defaults fail, and ``podman_host_config``
changes them in a containers.conf of our own, added to the host's (unless the user has set
CONTAINERS_CONF or CONTAINERS_CONF_OVERRIDE: theirs wins):

- containers get ``nofile=1048576`` by default; a process without CAP_SYS_RESOURCE cannot raise
  its hard limit above its own, so every start fails with ``setrlimit RLIMIT_NOFILE``; the
  same goes for the process limit, which podman itself runs under at 32768 at most (podman
  4.3), so containers get the host's limits, capped there;
- crun refuses hybrid cgroup hierarchies (v1 controllers plus a v2 mount); runc accepts them.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import containers_conf

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
# containers/common 0.52, first in podman 4.5, loads CONTAINERS_CONF_OVERRIDE after the host's
# containers.conf files; older podman (Debian 12's 4.3) ignores it.
OVERRIDE_SINCE = (4, 5)


class ContainerEngineError(RuntimeError):
    """An engine command failed; the message ends with what it printed."""


@dataclass
class ContainerEngine:
    name: str  # podman or docker
    env: dict[str, str] = field(default_factory=dict)  # added to every command's environment

    def command(self, *args: str, check: bool = True, timeout: float = 600, stdin: str | None = None):
        completed = subprocess.run(
            [self.name, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            env={**os.environ, **self.env},
        )
        if check and completed.returncode != 0:
            output = (completed.stderr.strip() or completed.stdout.strip())[-3000:]
            raise ContainerEngineError(
                f"`{self.name} {' '.join(args[:3])} ...` exited {completed.returncode}:\n{output}"
            )
        return completed

    def has_image(self, ref: str) -> bool:
        return self.command("image", "inspect", ref, check=False, timeout=60).returncode == 0

    def image_size(self, ref: str) -> int:
        return int(self.command("image", "inspect", "--format", "{{.Size}}", ref, timeout=60).stdout.strip())


def find_engine(preferred: str | None = None) -> tuple[ContainerEngine | None, str]:
    """The first engine that can run a container (``preferred``, else $CONTAINER_ENGINE, else
    podman then docker), or None and one line saying why none can."""
    chosen = preferred or os.environ.get("CONTAINER_ENGINE")
    names = [chosen] if chosen else list(ENGINES)
    problems = []
    for name in names:
        if shutil.which(name) is None:
            problems.append(f"`{name}` is not on PATH")
            continue
        engine = ContainerEngine(name, podman_host_config(podman_version()) if name == "podman" else {})
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


def podman_version(podman: str = "podman") -> tuple[int, int] | None:
    """(major, minor) of ``podman --version``, or None where it says none."""
    try:
        said = subprocess.run([podman, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"(\d+)\.(\d+)", said)
    return (int(found[1]), int(found[2])) if found else None


def podman_host_config(version: tuple[int, int] | None, cache: Path | None = None) -> dict[str, str]:
    """The environment that adds this host's settings to podman ``version``'s containers.conf
    files, when podman's defaults cannot start containers here, else {}."""
    if os.environ.get("CONTAINERS_CONF") or os.environ.get("CONTAINERS_CONF_OVERRIDE"):
        return {}  # the user's own configuration wins
    settings = host_settings()
    return write_podman_config(settings, version, cache) if settings else {}


def host_settings() -> dict[str, dict[str, Any]]:
    """The containers.conf settings this host needs (see the module's docstring), by table."""
    settings: dict[str, dict[str, Any]] = {}
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if nofile != resource.RLIM_INFINITY and nofile < PODMAN_DEFAULT_NOFILE:
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nproc = PODMAN_OWN_NPROC if nproc == resource.RLIM_INFINITY else min(nproc, PODMAN_OWN_NPROC)
        settings["containers"] = {"default_ulimits": [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]}
    # Podman looks for runc in the system directories, whatever PATH says.
    if HYBRID_CGROUP_MOUNT.is_dir() and _podman_finds("runc", SYSTEM_DIRS):
        settings["engine"] = {"runtime": "runc", "cgroup_manager": "cgroupfs"}
    return settings


def write_podman_config(
    settings: dict[str, dict[str, Any]], version: tuple[int, int] | None, cache: Path | None = None
) -> dict[str, str]:
    """Write ``settings`` where podman ``version`` adds them to its other containers.conf files,
    and return the variable that points podman there."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kserve-reranker"
    if version is not None and version >= OVERRIDE_SINCE:
        variable, content = "CONTAINERS_CONF_OVERRIDE", settings
    else:
        # CONTAINERS_CONF replaces every other file, so ours repeats what they say, then ours.
        variable, content = "CONTAINERS_CONF", containers_conf.merged(containers_conf.layered_files(), settings)
    text = "# Written by kserve-reranker's imagebuild.container_engine for this host (see its docstring).\n"
    text += containers_conf.dumps(content)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "containers.conf"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return {variable: str(path)}
