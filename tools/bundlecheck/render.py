"""Render a kustomization into a list of Kubernetes objects.

Three renderers, tried in this order unless one is named: ``pykustomize`` (kustomize as a
library, in-process: no binary needed on CI machines), a ``kustomize`` binary, and
``kubectl kustomize``. Every renderer runs with kustomize's defaults (load restrictor
RootOnly, legacy ordering), so they produce the same objects in the same order.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PYKUSTOMIZE = "pykustomize"
KUSTOMIZE_BINARY = "kustomize"
KUBECTL_KUSTOMIZE = "kubectl kustomize"
RENDERERS = (PYKUSTOMIZE, KUSTOMIZE_BINARY, KUBECTL_KUSTOMIZE)

# A kustomize binary that hangs (a remote resource, a slow helm chart) must not hang CI.
BINARY_TIMEOUT_S = 120


class RenderError(Exception):
    """The kustomization could not be rendered; ``str()`` says where and why."""

    def __init__(self, path: Path | str, message: str, renderer: str | None = None) -> None:
        self.path = Path(path)
        self.renderer = renderer
        self.message = message.strip()
        by = f" ({renderer})" if renderer else ""
        super().__init__(f"cannot render {self.path}{by}: {self.message}")


@dataclass
class RenderResult:
    path: Path
    renderer: str
    objects: list[dict[str, Any]] = field(default_factory=list)


def available_renderers() -> list[str]:
    """The renderers this machine can use, in order of preference."""
    found = []
    if _pykustomize_importable():
        found.append(PYKUSTOMIZE)
    if shutil.which("kustomize"):
        found.append(KUSTOMIZE_BINARY)
    if shutil.which("kubectl"):
        found.append(KUBECTL_KUSTOMIZE)
    return found


def render(path: Path | str, renderer: str | None = None) -> RenderResult:
    """Render the kustomization in directory ``path`` with ``renderer`` or the first available.

    Raises RenderError when the directory is not a kustomization, kustomize fails, the output
    is not a list of objects, or no renderer is available.
    """
    path = Path(path).resolve()
    if not path.is_dir():
        raise RenderError(path, "not a directory")
    if not any((path / name).is_file() for name in _KUSTOMIZATION_FILES):
        raise RenderError(path, "no kustomization.yaml in this directory")

    if renderer is None:
        choices = available_renderers()
        if not choices:
            raise RenderError(path, "no renderer found: install pykustomize, kustomize or kubectl")
        renderer = choices[0]
    if renderer not in RENDERERS:
        raise RenderError(path, f"unknown renderer {renderer!r}; choose one of {RENDERERS}")

    text = _RENDER_TEXT[renderer](path)
    return RenderResult(path=path, renderer=renderer, objects=_parse(path, text, renderer))


_KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# A target "overlays/cpu+components/monitoring": the first kustomization with the components.
COMBINE = "+"


def is_combination(target: Path | str) -> bool:
    """``overlays/cpu+components/monitoring``, not a directory whose own name has a ``+``."""
    return COMBINE in str(target) and not Path(target).is_dir()


def render_combination(target: Path | str, renderer: str | None = None) -> RenderResult:
    """Render ``BASE+COMPONENT[+COMPONENT...]``: a kustomization with BASE as its resource and
    the components (``kind: Component`` directories) applied to it, written to a temporary
    directory. The result's path is BASE's."""
    base, *components = (Path(part).resolve() for part in str(target).split(COMBINE))
    for path in (base, *components):
        if not any((path / name).is_file() for name in _KUSTOMIZATION_FILES):
            raise RenderError(path, "no kustomization.yaml in this directory")
    with tempfile.TemporaryDirectory(prefix="bundlecheck-") as work:
        here = Path(work)
        relative = [os.path.relpath(p, here) for p in (base, *components)]
        (here / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": relative[:1],
                    "components": relative[1:],
                }
            )
        )
        try:
            result = render(here, renderer)
        except RenderError as error:
            raise RenderError(target, error.message, error.renderer) from error
    result.path = base
    return result


def _pykustomize_importable() -> bool:
    try:
        import pykustomize  # noqa: F401
    except Exception:  # ImportError, or the native library failing to load
        return False
    return True


def _render_with_pykustomize(path: Path) -> str:
    try:
        import pykustomize
    except Exception as error:
        raise RenderError(path, f"pykustomize unavailable: {error}", PYKUSTOMIZE) from error
    try:
        return asyncio.run(pykustomize.build(path)).yaml
    except pykustomize.KustomizeError as error:
        raise RenderError(path, str(error), PYKUSTOMIZE) from error


def _render_with_binary(path: Path, command: list[str], renderer: str) -> str:
    if not shutil.which(command[0]):
        raise RenderError(path, f"{command[0]} not found on PATH", renderer)
    try:
        done = subprocess.run(
            [*command, str(path)],
            capture_output=True,
            text=True,
            timeout=BINARY_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise RenderError(path, f"timed out after {BINARY_TIMEOUT_S}s", renderer) from error
    if done.returncode != 0:
        raise RenderError(path, done.stderr or f"exit status {done.returncode}", renderer)
    return done.stdout


_RENDER_TEXT = {
    PYKUSTOMIZE: _render_with_pykustomize,
    KUSTOMIZE_BINARY: lambda path: _render_with_binary(path, ["kustomize", "build"], KUSTOMIZE_BINARY),
    KUBECTL_KUSTOMIZE: lambda path: _render_with_binary(path, ["kubectl", "kustomize"], KUBECTL_KUSTOMIZE),
}


def _parse(path: Path, text: str, renderer: str) -> list[dict[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise RenderError(path, f"output is not YAML: {error}", renderer) from error
    objects = [doc for doc in documents if doc is not None]
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
            raise RenderError(path, f"document {index} is not a Kubernetes object (no kind/apiVersion)", renderer)
    return objects
