"""Model sources (``components/model-source/<source>``) and the model cache
(``components/model-cache``): the renders that show each works with every overlay and model.

A source that takes its URI from a ``model-source`` ConfigMap ships an ``example/`` component
holding one; the validator lists it before the source, as a user lists their own file under
resources. The cache holds GPU nodes, so it is rendered on the GPU overlays only.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import model_components
from .overlays import OVERLAYS_DIR, bundle_overlays
from .render import RenderError

SOURCES_DIR = Path("components") / "model-source"
CACHE_DIR = Path("components") / "model-cache"
EXAMPLE = "example"


def source_components(root: Path) -> list[Path]:
    """Every ``kind: Component`` directly under components/model-source."""
    return [p.parent for p in sorted((root / SOURCES_DIR).glob("*/kustomization.yaml")) if _is_component(p.parent)]


def is_delivery_component(component: Path, root: Path) -> bool:
    """A source, a source's example, or the cache: rendered by delivery_targets only."""
    resolved = component.resolve()
    return (root / SOURCES_DIR).resolve() in resolved.parents or resolved == (root / CACHE_DIR).resolve()


def with_example(source: Path, combine: str) -> str:
    """``source`` preceded by its example ConfigMap, where it needs one."""
    example = source / EXAMPLE
    return f"{example}{combine}{source}" if _is_component(example) else str(source)


def gpu_overlays(root: Path, overlays: list[Path]) -> list[Path]:
    """Those of ``overlays`` whose pods request a GPU (none where the bundle does not render:
    the overlay's own target reports that)."""
    try:
        gpu = {o.path for o in bundle_overlays(root) if o.gpu}
    except RenderError:
        return []
    return [o for o in overlays if o in gpu]


def delivery_targets(root: Path, combine: str, overlays: list[Path]) -> list[str]:
    """Each source on every overlay; each model with each source on the first overlay the model
    claims, and with the hf source and the cache on the first GPU one; the cache on every GPU
    overlay."""
    sources = [with_example(s, combine) for s in source_components(root)]
    targets = [f"{overlay}{combine}{source}" for source in sources for overlay in overlays]
    cache = root / CACHE_DIR
    has_cache = _is_component(cache)
    if has_cache:
        targets += [f"{overlay}{combine}{cache}" for overlay in gpu_overlays(root, overlays)]
    for model in model_components.model_components(root):
        claim = model_components.read_claim(model)
        claimed = [root / OVERLAYS_DIR / name for name in (claim.fits if claim else ())]
        claimed = [o for o in claimed if o in overlays]
        if claimed:
            targets += [f"{claimed[0]}{combine}{model}{combine}{source}" for source in sources]
        gpu = gpu_overlays(root, claimed)
        if has_cache and gpu:
            # The whole order: model, source, cache.
            hf = root / SOURCES_DIR / "hf"
            chain = [model, hf, cache] if _is_component(hf) else [model, cache]
            targets.append(combine.join(str(p) for p in [gpu[0], *chain]))
    return targets


def _is_component(directory: Path) -> bool:
    path = directory / "kustomization.yaml"
    return path.is_file() and (yaml.safe_load(path.read_text()) or {}).get("kind") == "Component"
