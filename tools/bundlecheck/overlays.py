"""The bundle's overlays (``overlays/<name>/``) and which of them run on a GPU, read from the
overlays themselves: an overlay is a GPU overlay when the pods it renders request nvidia.com/gpu,
and its GPU is the product those pods select by GPU Feature Discovery's label."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .kserve.workloads import pods
from .nvidia import requests_gpu, selected_gpu_product
from .render import render

OVERLAYS_DIR = Path("overlays")


@dataclass(frozen=True)
class Overlay:
    name: str  # the directory's: what a model component's fits-overlays annotation lists
    path: Path
    gpu: bool  # its pods request nvidia.com/gpu
    gpu_product: str | None  # the nvidia.com/gpu.product they select (None: no GPU, or none selected)


def overlay_dirs(root: Path) -> list[Path]:
    """Every ``overlays/<name>/`` under ``root`` with a kustomization.yaml, sorted."""
    return sorted(path.parent for path in (root / OVERLAYS_DIR).glob("*/kustomization.yaml"))


def bundle_overlays(root: Path) -> list[Overlay]:
    """Every overlay of the bundle at ``root``, sorted by name; the GPU ones have ``gpu`` set.
    Each is rendered once per process (RenderError where one does not render)."""
    return [_overlay(path, path.resolve()) for path in overlay_dirs(root)]


@functools.cache
def _overlay(path: Path, resolved: Path) -> Overlay:
    gpu_pods = [pod for pod in pods(render(resolved).objects) if any(requests_gpu(c.spec) for c in pod.containers)]
    return Overlay(path.name, path, bool(gpu_pods), selected_gpu_product(gpu_pods[0].fields) if gpu_pods else None)
