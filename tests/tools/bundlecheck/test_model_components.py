"""model_components.py: what a model component says about itself (its annotations), and the
targets that render it on each overlay it claims. The components' own content is checked in
tests/bundle/test_model_components.py."""

from __future__ import annotations

from pathlib import Path

import yaml

from bundlecheck.model_components import (
    FITS_OVERLAYS,
    MAX_MODEL_LEN,
    MODEL,
    MODEL_FAMILY,
    MODEL_LIMIT,
    ModelClaim,
    claim_from_annotations,
    is_model_component,
    model_components,
    model_targets,
    read_claim,
)

REPO = Path(__file__).resolve().parents[3]


def test_should_read_a_claim_from_annotations_and_nothing_without_one() -> None:
    annotations = {
        MODEL: "m",
        FITS_OVERLAYS: " l4, t4 ,,",
        MAX_MODEL_LEN: "8192",
        MODEL_LIMIT: "not a number",
        MODEL_FAMILY: "qwen3-reranker",
    }
    assert claim_from_annotations(annotations) == ModelClaim("m", ("l4", "t4"), 8192, None, "qwen3-reranker")
    assert claim_from_annotations({"team": "search"}) is None
    assert claim_from_annotations(None) is None


def test_should_find_the_bundles_model_components_and_read_their_claims() -> None:
    components = model_components(REPO)
    assert REPO / "components/models/bge-reranker-base" in components
    assert all(is_model_component(component, REPO) for component in components)
    assert not is_model_component(REPO / "components/monitoring", REPO)
    claim = read_claim(REPO / "components/models/bge-reranker-base")
    assert claim is not None and claim.name == "bge-reranker-base" and "cpu" in claim.fits


def component(root: Path, name: str, fits: str | None) -> Path:
    folder = root / "components" / "models" / name
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text("kind: Component\npatches: [{path: model_patch.yaml}]\n")
    annotations = {MODEL: name, **({FITS_OVERLAYS: fits} if fits is not None else {})}
    patch = {"kind": "InferenceService", "metadata": {"name": "m", "annotations": annotations}}
    (folder / "model_patch.yaml").write_text(yaml.safe_dump(patch))
    return folder


def test_should_target_each_claimed_overlay_and_the_fallback_for_a_component_claiming_none(tmp_path: Path) -> None:
    claims_two = component(tmp_path, "a", "l4,v100")
    claims_none = component(tmp_path, "b", "")
    fallback = tmp_path / "overlays" / "cpu"

    assert model_targets(tmp_path, "+", fallback) == [
        f"{tmp_path / 'overlays/l4'}+{claims_two}",
        # An overlay that does not exist is a target all the same: its render fails, so the claim does.
        f"{tmp_path / 'overlays/v100'}+{claims_two}",
        f"{fallback}+{claims_none}",
    ]
    assert model_targets(tmp_path, "+", None) == model_targets(tmp_path, "+", fallback)[:2]
