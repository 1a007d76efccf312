"""Model components (``components/models/<name>``): what each says about itself.

A model component annotates the InferenceService with the overlays it fits, the token length
it serves and the model's own limit (and the family, where the server must be told). The
annotations travel into every render, where the ``model-fit`` policy reads them; the validator
reads them from the component's own files to render each model on each overlay it claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .overlays import OVERLAYS_DIR

MODELS_DIR = Path("components") / "models"

_PREFIX = "kserve-reranker.example.com/"
MODEL = _PREFIX + "model"  # the component's name
FITS_OVERLAYS = _PREFIX + "fits-overlays"  # overlay names, comma separated
MAX_MODEL_LEN = _PREFIX + "max-model-len"  # the --max_model_len the component sets
MODEL_LIMIT = _PREFIX + "model-limit"  # the model's own token limit
MODEL_FAMILY = _PREFIX + "model-family"  # a --model_family the server cannot detect


@dataclass(frozen=True)
class ModelClaim:
    name: str
    fits: tuple[str, ...]
    max_model_len: int | None
    limit: int | None
    family: str | None


def claim_from_annotations(annotations: dict[str, Any] | None) -> ModelClaim | None:
    """The claim a model component stamped on an InferenceService, or None where none did."""
    annotations = annotations or {}
    if MODEL not in annotations:
        return None
    fits = str(annotations.get(FITS_OVERLAYS) or "")
    return ModelClaim(
        name=str(annotations[MODEL]),
        fits=tuple(name.strip() for name in fits.split(",") if name.strip()),
        max_model_len=_int(annotations.get(MAX_MODEL_LEN)),
        limit=_int(annotations.get(MODEL_LIMIT)),
        family=annotations.get(MODEL_FAMILY),
    )


def read_claim(component: Path) -> ModelClaim | None:
    """The claim in a component's own YAML files (the patch that annotates the InferenceService)."""
    for path in sorted(component.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "InferenceService":
                claim = claim_from_annotations((document.get("metadata") or {}).get("annotations"))
                if claim is not None:
                    return claim
    return None


def model_components(root: Path) -> list[Path]:
    """Every ``kind: Component`` directly under components/models."""
    found = []
    for kustomization in sorted((root / MODELS_DIR).glob("*/kustomization.yaml")):
        config = yaml.safe_load(kustomization.read_text()) or {}
        if config.get("kind") == "Component":
            found.append(kustomization.parent)
    return found


def is_model_component(component: Path, root: Path) -> bool:
    return (root / MODELS_DIR).resolve() in component.resolve().parents


def model_targets(root: Path, combine: str, fallback_overlay: Path | None) -> list[str]:
    """``overlays/<o>+components/models/<m>`` for each overlay each model claims. An overlay
    that does not exist still becomes a target, so that the claim fails to render; a component
    that claims none is rendered on ``fallback_overlay``, where model-fit reports it."""
    targets = []
    for component in model_components(root):
        claim = read_claim(component)
        overlays = [root / OVERLAYS_DIR / name for name in claim.fits] if claim else []
        if not overlays and fallback_overlay is not None:
            overlays = [fallback_overlay]
        targets.extend(f"{overlay}{combine}{component}" for overlay in overlays)
    return targets


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
