"""The image suite's build: the CPU target of serving/Dockerfile, with the engine at hand.

Settings come from the environment (``make test-image`` passes its variables):
CONTAINER_ENGINE (podman or docker; default: the first that works), BASE_IMAGE (default
python:3.12-slim where it can be had, else a Debian base made from Debian packages with
mmdebstrap), TORCH_INDEX_URL (default: the PyTorch CPU index, or "" where this machine's pip
already carries that CPU wheel). Package sources and CA bundle are this machine's pip's
(imagebuild.build.host_pip_sources).
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
from imagebuild.engine import Engine, EngineError, find_engine

TEST_TAG = "localhost/kserve-reranker:test-cpu"


@dataclass
class BuiltImage:
    engine: Engine
    tag: str
    result: BuildResult
    base_image: str
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        size_mb = self.result.size_bytes / 1e6
        lines = [f"image suite: built {self.tag} with {self.engine.name} from {self.base_image} "
                 f"in {self.result.seconds:.0f} s; image size {size_mb:.0f} MB"]
        return "\n".join(lines + [f"image suite: {note}" for note in self.notes])


def build_cpu_image(workdir: Path) -> tuple[BuiltImage | None, str]:
    """Build the CPU image, or (None, one line naming what this machine lacks)."""
    # The Pod runs under `podman kube play`: Docker has no equivalent of it.
    engine, missing = find_engine(os.environ.get("CONTAINER_ENGINE") or "podman")
    if engine is None:
        return None, f"{missing} (make container-tools installs podman)"
    if engine.name != "podman":
        return None, (f"missing podman, which runs the predictor Pod (podman kube play): "
                      f"CONTAINER_ENGINE={engine.name} can only build the image")
    notes: list[str] = []
    base, missing = _base_image(engine, workdir, notes)
    if base is None:
        return None, missing
    runs = engine.command("run", "--rm", "--entrypoint", "true", base, check=False, timeout=300)
    if runs.returncode != 0:
        last = (runs.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"{engine.name} cannot run a container here ({last})"

    sources = host_pip_sources()
    notes += [f"pip source not used: {reason}" for reason in sources.skipped]
    torch_index = os.environ.get("TORCH_INDEX_URL", "auto")
    if torch_index == "auto":
        torch_index = torch_index_for(sources, dockerfile_arg("TORCH_VERSION"))
    options = BuildOptions(base_image=base, torch_index_url=torch_index, sources=sources)
    result = build(engine, "cpu", TEST_TAG, options, workdir / "build.log")
    return BuiltImage(engine, TEST_TAG, result, base, notes), ""


def _base_image(engine: Engine, workdir: Path, notes: list[str]) -> tuple[str | None, str]:
    chosen = os.environ.get("BASE_IMAGE")
    if chosen:
        if engine.has_image(chosen) or engine.command("pull", chosen, check=False, timeout=900).returncode == 0:
            return chosen, ""
        return None, f"missing the base image {chosen} (BASE_IMAGE): not present and `{engine.name} pull` failed"
    if engine.has_image(DEFAULT_BASE_IMAGE):
        return DEFAULT_BASE_IMAGE, ""
    pulled = engine.command("pull", DEFAULT_BASE_IMAGE, check=False, timeout=900)
    if pulled.returncode == 0:
        return DEFAULT_BASE_IMAGE, ""
    why = (pulled.stderr.strip().splitlines() or ["no output"])[-1][:200]
    notes.append(f"{DEFAULT_BASE_IMAGE} could not be pulled ({why}); built on {DEBIAN_BASE_IMAGE}, from Debian's packages")
    if engine.has_image(DEBIAN_BASE_IMAGE):
        return DEBIAN_BASE_IMAGE, ""
    if shutil.which("mmdebstrap") is None:
        return None, (f"missing a base image: {DEFAULT_BASE_IMAGE} cannot be pulled ({why}) and mmdebstrap, "
                      "which makes one from Debian's packages, is not installed")
    try:
        return make_debian_base(engine, workdir=workdir), ""
    except (EngineError, RuntimeError, OSError, subprocess.SubprocessError) as error:
        return None, f"missing a base image: making {DEBIAN_BASE_IMAGE} with mmdebstrap failed ({error})"
