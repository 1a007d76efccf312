"""The image suites' builds: a target of serving/Dockerfile (``cpu`` for make test-image, ``gpu``
for make test-image-gpu), with the engine at hand.

Settings come from the environment (``make test-image`` passes its variables):
CONTAINER_ENGINE (podman or docker; default: the first that works), BASE_IMAGE (default
python:3.12-slim where it can be had, else a Debian base made from Debian packages with
mmdebstrap), TORCH_INDEX_URL (default: the PyTorch CPU index, or "" where this machine's pip
already carries that CPU wheel). Package sources and CA bundle are this machine's pip's
(imagebuild.build.host_pip_sources).

Before anything is built, every prerequisite is checked (``prerequisites``) and all that are
missing are named in one line: podman, what it needs to run a pod (conmon, the pause binary,
an OCI runtime: imagebuild.engine.podman_missing_tools), a base image or mmdebstrap to make one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from imagebuild.build import (
    DEBIAN_BASE_IMAGE,
    DEFAULT_BASE_IMAGE,
    BuildOptions,
    BuildResult,
    build,
    dockerfile_arg,
    host_pip_sources,
    make_debian_base,
    torch_index_for,
)
from imagebuild.container_engine import ContainerEngine, ContainerEngineError, find_engine, podman_missing_tools

TEST_TAG = "localhost/kserve-reranker:test-cpu"
GPU_TEST_TAG = "localhost/kserve-reranker:test-gpu"
INSTALL_HINT = "make container-tools installs them"


@dataclass
class BuiltImage:
    engine: ContainerEngine
    tag: str
    result: BuildResult
    base_image: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        size_mb = self.result.size_bytes / 1e6
        lines = [
            f"image suite: built {self.tag} with {self.engine.name} from {self.base_image} "
            f"in {self.result.seconds:.0f} s; image size {size_mb:.0f} MB"
        ]
        return "\n".join(lines + [f"image suite: {note}" for note in self.notes])


@dataclass
class Prerequisites:
    """What the suite found: the engine, the base image (None: make it with mmdebstrap), and
    every missing piece as a phrase (empty: the suite can build)."""

    engine: ContainerEngine | None = None
    base_image: str | None = None
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def one_line(self) -> str:
        return f"missing {'; '.join(self.missing)} ({INSTALL_HINT})"


def build_cpu_image(workdir: Path) -> tuple[BuiltImage | None, str]:
    """Build the CPU image, or (None, one line naming all that this machine lacks)."""
    return build_suite_image("cpu", TEST_TAG, workdir)


def build_gpu_image(workdir: Path) -> tuple[BuiltImage | None, str]:
    """Build the GPU (vLLM) image, or (None, one line naming all that this machine lacks)."""
    return build_suite_image("gpu", GPU_TEST_TAG, workdir)


def build_suite_image(target: str, tag: str, workdir: Path) -> tuple[BuiltImage | None, str]:
    """Check every prerequisite, then build ``target`` as ``tag``; or (None, one line)."""
    # The Pod runs under `podman kube play`: Docker has no equivalent of it.
    chosen = os.environ.get("CONTAINER_ENGINE") or "podman"
    if chosen != "podman":
        return None, (
            f"missing podman, which runs the predictor Pod (podman kube play): "
            f"CONTAINER_ENGINE={chosen} can only build the image"
        )
    found = prerequisites()
    if found.missing:
        return None, found.one_line()
    engine, notes = found.engine, found.notes
    assert engine is not None
    base = found.base_image
    if base is None:
        try:
            base = make_debian_base(engine, workdir=workdir)
        except (ContainerEngineError, RuntimeError, OSError, subprocess.SubprocessError) as error:
            return None, f"missing a base image: making {DEBIAN_BASE_IMAGE} with mmdebstrap failed ({error})"
    runs = engine.command("run", "--rm", "--entrypoint", "true", base, check=False, timeout=300)
    if runs.returncode != 0:
        last = (runs.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"{engine.name} cannot run a container here ({last})"

    sources = host_pip_sources()
    torch_index = os.environ.get("TORCH_INDEX_URL", "auto")
    if torch_index == "auto":
        torch_index = torch_index_for(sources, dockerfile_arg("TORCH_VERSION"))
    options = BuildOptions(base_image=base, torch_index_url=torch_index, sources=sources)
    result = build(engine, target, tag, options, workdir / "build.log")
    notes += [f"pip source not used: {reason}" for reason in sources.skipped]  # the build adds some
    return BuiltImage(engine, tag, result, base, notes), ""


def prerequisites() -> Prerequisites:
    """Podman and what it needs to run a pod, then a base image: all of it checked, nothing built."""
    found = Prerequisites(missing=podman_missing_tools())
    if not any(m.startswith("podman ") for m in found.missing):
        found.engine, problem = find_engine("podman")
        if found.engine is None:
            found.missing.insert(0, f"a working podman ({problem.removeprefix('no container engine: ')})")
    if found.engine is not None:
        base, problem = _base_image(found.engine, found.notes)
        found.base_image = base
        if problem:
            found.missing.append(problem)
    elif not os.environ.get("BASE_IMAGE") and shutil.which("mmdebstrap") is None:
        # No engine to try a pull with: a base image can then only be made, from Debian's packages.
        found.missing.append(f"mmdebstrap (it makes the base image where {DEFAULT_BASE_IMAGE} cannot be pulled)")
    return found


def _base_image(engine: ContainerEngine, notes: list[str]) -> tuple[str | None, str]:
    """(the base image, "") where one is here or can be pulled; (None, "") where mmdebstrap will
    make one; (None, what is missing) otherwise."""
    chosen = os.environ.get("BASE_IMAGE")
    if chosen:
        if engine.has_image(chosen) or engine.command("pull", chosen, check=False, timeout=900).returncode == 0:
            return chosen, ""
        return None, f"the base image {chosen} (BASE_IMAGE): not present and `{engine.name} pull` failed"
    if engine.has_image(DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE, ""
    pulled = engine.command("pull", DEFAULT_BASE_IMAGE, check=False, timeout=900)
    if pulled.returncode == 0:
        return DEFAULT_BASE_IMAGE, ""
    why = (pulled.stderr.strip().splitlines() or ["no output"])[-1][:200]
    if not engine.has_image(DEBIAN_BASE_IMAGE) and shutil.which("mmdebstrap") is None:
        return None, (
            f"mmdebstrap (it makes the base image where {DEFAULT_BASE_IMAGE} cannot be pulled, as here: {why})"
        )
    notes.append(
        f"{DEFAULT_BASE_IMAGE} could not be pulled ({why}); built on {DEBIAN_BASE_IMAGE}, from Debian's packages"
    )
    return (DEBIAN_BASE_IMAGE if engine.has_image(DEBIAN_BASE_IMAGE) else None), ""
