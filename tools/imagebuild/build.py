"""Build a target of serving/Dockerfile, from the package sources this machine's pip uses.

Behind a proxy or in an air-gapped network, pip on the build machine is already configured:
an index mirror, a wheel directory, a CA bundle. ``host_pip_sources`` reads that configuration
(``pip config list``, which includes PIP_* variables) and ``build_command`` hands it to the
build the way serving/Dockerfile takes it: index URLs and trusted hosts as build arguments,
the CA bundle as the ``pip_ca`` secret (mounted per RUN, never in a layer), wheel directories
mounted read-only (podman; Docker cannot mount at build time, so there serve them as an index).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from .container_engine import ContainerEngine

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = "serving/Dockerfile"
DEFAULT_BASE_IMAGE = "python:3.12-slim"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
WHEEL_MOUNT = "/run/pip-find-links"  # where a host wheel directory appears during the build
# A base image made from Debian's packages alone, for builders that reach no image registry.
DEBIAN_BASE_IMAGE = "localhost/kserve-reranker-base:bookworm"
DEBIAN_BASE_PACKAGES = "python3,python3-venv,ca-certificates"
# CPU-only builds of the PyTorch wheels (torch-2.13.0+cpu-...whl, as the CPU target takes from
# a wheel directory): their local version sorts above the same release's CUDA build, so pip
# would install them in the gpu target in place of the CUDA torch that vLLM pins.
CPU_ONLY_WHEELS = "*+cpu-*.whl"
# How long a target's build may take: the gpu target installs ~4 GB of wheels (vLLM, CUDA torch).
BUILD_TIMEOUT_S = {"cpu": 2400, "gpu": 7200}


@dataclass
class PipSources:
    """What pip installs from: the build gets the same."""

    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)  # local directories or URLs
    trusted_hosts: list[str] = field(default_factory=list)
    cert: str | None = None  # a CA bundle file
    skipped: list[str] = field(default_factory=list)  # sources a build cannot reach, with why

    def find_links_has(self, pattern: str) -> bool:
        return any(Path(d).is_dir() and any(Path(d).glob(pattern)) for d in self.find_links)


@dataclass
class BuildOptions:
    base_image: str = DEFAULT_BASE_IMAGE
    torch_index_url: str = TORCH_CPU_INDEX  # "" takes torch from the pip sources
    version: str = "0.1.0"
    sources: PipSources = field(default_factory=PipSources)
    pip_conf: str | None = None  # a pip.conf handed in as the pip_conf secret (credentials)
    extra_args: list[str] = field(default_factory=list)


def host_pip_sources(python: str = sys.executable) -> PipSources:
    """The index, mirrors, wheel directories and CA bundle of this machine's pip."""
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=False)
    return parse_pip_config(listed.stdout)


def parse_pip_config(text: str) -> PipSources:
    """``pip config list`` lines (``global.find-links='/opt/wheels'``; ``:env:.`` for PIP_*
    variables) as PipSources. Later lines win, as in pip: env over files."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep:
            continue
        try:
            value = ast.literal_eval(raw)
        except (SyntaxError, ValueError):
            value = raw
        values[key.rsplit(".", 1)[-1]] = str(value)
    sources = PipSources(cert=values.get("cert") or None)
    for url in values.get("index-url", "").split()[:1]:
        sources.index_url = _reachable_url(url, sources)
    for url in values.get("extra-index-url", "").split():
        if kept := _reachable_url(url, sources):
            sources.extra_index_urls.append(kept)
    for link in values.get("find-links", "").split():
        path = link.removeprefix("file://")
        if "://" in path or Path(path).is_dir():
            sources.find_links.append(path)
        else:
            sources.skipped.append(f"find-links {link}: not a directory here")
    sources.trusted_hosts = values.get("trusted-host", "").split()
    return sources


def dockerfile_arg(name: str) -> str:
    """The default value serving/Dockerfile gives the build argument ``name``."""
    found = re.search(rf"^ARG {name}=(\S+)", (REPO / DOCKERFILE).read_text(), re.MULTILINE)
    if found is None:
        raise ValueError(f"serving/Dockerfile declares no ARG {name}=...")
    return found.group(1)


def torch_index_for(sources: PipSources, torch_version: str) -> str:
    """The PyTorch CPU index, unless the pip sources already carry that CPU wheel (a mirror of
    it in a wheel directory): then "", so the build needs no other network."""
    return "" if sources.find_links_has(f"torch-{torch_version}+cpu-*.whl") else TORCH_CPU_INDEX


def build_command(engine: ContainerEngine, target: str, tag: str, options: BuildOptions) -> list[str]:
    """The engine's arguments that build ``target`` of serving/Dockerfile as ``tag``."""
    args = [
        "build",
        "-f",
        DOCKERFILE,
        "--target",
        target,
        "-t",
        tag,
        "--build-arg",
        f"BASE_IMAGE={options.base_image}",
        "--build-arg",
        f"TORCH_INDEX_URL={options.torch_index_url}",
        "--build-arg",
        f"VERSION={options.version}",
    ]
    sources = options.sources
    if sources.index_url:
        args += ["--build-arg", f"PIP_INDEX_URL={sources.index_url}"]
    if sources.extra_index_urls:
        args += ["--build-arg", f"PIP_EXTRA_INDEX_URL={' '.join(sources.extra_index_urls)}"]
    if sources.trusted_hosts:
        args += ["--build-arg", f"PIP_TRUSTED_HOST={' '.join(sources.trusted_hosts)}"]
    links = []
    for index, link in enumerate(sources.find_links):
        if "://" in link:
            links.append(link)
        elif engine.name == "podman":
            mount = f"{WHEEL_MOUNT}/{index}"
            args += ["-v", f"{Path(link).resolve()}:{mount}:ro"]
            links.append(mount)
        else:
            sources.skipped.append(f"find-links {link}: {engine.name} cannot mount it at build time")
    if links:
        args += ["--build-arg", f"PIP_FIND_LINKS={' '.join(links)}"]
    if sources.cert:
        args += ["--secret", f"id=pip_ca,src={sources.cert}"]
    if options.pip_conf:
        args += ["--secret", f"id=pip_conf,src={options.pip_conf}"]
    return [*args, *options.extra_args, "."]


@dataclass
class BuildResult:
    tag: str
    seconds: float
    size_bytes: int


def build(
    engine: ContainerEngine, target: str, tag: str, options: BuildOptions, log: Path, timeout: float | None = None
) -> BuildResult:
    """Build and tag one target; the engine's output goes to ``log``. ``timeout``: the target's
    BUILD_TIMEOUT_S by default."""
    timeout = timeout or BUILD_TIMEOUT_S.get(target, 2400)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=log.parent) as scratch:
        if target != "cpu":
            options = replace(options, sources=without_cpu_only_wheels(options.sources, Path(scratch)))
        argv = [engine.name, *build_command(engine, target, tag, options)]
        with log.open("w") as out:
            out.write("$ " + " ".join(argv) + "\n")
            out.flush()
            completed = subprocess.run(
                argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env={**os.environ, **engine.env}
            )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise RuntimeError(f"building target {target} failed ({engine.name} exited {completed.returncode}):\n{tail}")
    if not engine.has_image(tag):  # podman 4.3 exits 0 when its build is terminated
        raise RuntimeError(f"building target {target}: {engine.name} exited 0 but made no image {tag} (interrupted?)")
    return BuildResult(tag, time.monotonic() - started, engine.image_size(tag))


def without_cpu_only_wheels(sources: PipSources, scratch: Path) -> PipSources:
    """The pip sources for a target other than cpu: each local wheel directory that holds
    CPU-only PyTorch wheels (CPU_ONLY_WHEELS) becomes a copy under ``scratch`` without them (hard
    links where the file system allows), or goes where nothing else is left. Each such change is
    noted in ``skipped``, which the result shares with ``sources``."""
    links = []
    for index, link in enumerate(sources.find_links):
        directory = Path(link)
        cpu_only = sorted(directory.glob(CPU_ONLY_WHEELS)) if "://" not in link and directory.is_dir() else []
        if not cpu_only:
            links.append(link)
            continue
        names = ", ".join(wheel.name for wheel in cpu_only)
        sources.skipped.append(
            f"find-links {link}: left out of this target its CPU-only wheels ({names}), "
            "which pip would take over the CUDA torch vLLM pins"
        )
        kept = [entry for entry in directory.iterdir() if entry.is_file() and entry not in cpu_only]
        if not kept:
            continue
        copy = scratch / f"find-links-{index}"
        copy.mkdir()
        for entry in kept:
            try:
                os.link(entry, copy / entry.name)
            except OSError:
                shutil.copy2(entry, copy / entry.name)
        links.append(str(copy))
    return replace(sources, find_links=links)


def make_debian_base(
    engine: ContainerEngine, tag: str = DEBIAN_BASE_IMAGE, suite: str = "bookworm", workdir: Path | None = None
) -> str:
    """A base image from Debian's packages (mmdebstrap, then ``import``): python3 with venv and
    CA certificates, for builders that reach Debian's archive but no image registry."""
    if shutil.which("mmdebstrap") is None:
        raise RuntimeError("mmdebstrap is not installed (Debian: apt-get install mmdebstrap)")
    with tempfile.TemporaryDirectory(dir=workdir) as scratch:
        rootfs = Path(scratch) / "rootfs.tar"
        subprocess.run(
            ["mmdebstrap", "--variant=minbase", f"--include={DEBIAN_BASE_PACKAGES}", suite, str(rootfs)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        engine.command("import", "--change", 'CMD ["/bin/bash"]', str(rootfs), tag, timeout=600)
    return tag


def _reachable_url(url: str, sources: PipSources) -> str | None:
    # A file:// index is a directory of this machine: its relative links break once mounted.
    if urlparse(url).scheme == "file":
        sources.skipped.append(f"index {url}: a local directory index (serve it over HTTP to use it)")
        return None
    return url
