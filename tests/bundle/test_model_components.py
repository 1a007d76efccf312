"""Model components (components/models/<name>): each renders on every overlay it claims, pins
its model, and reaches the server with its own length and family on top of the overlay's flags.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bundlecheck.model_components import ModelClaim, model_components, read_claim
from bundlecheck.render import render, render_combination

REPO = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.parent.name for p in (REPO / "overlays").glob("*/kustomization.yaml"))
MODELS = [component.name for component in model_components(REPO)]
CLAIMS: dict[str, ModelClaim] = {name: read_claim(REPO / "components/models" / name) for name in MODELS}
PAIRS = [(overlay, model) for model in MODELS for overlay in CLAIMS[model].fits]

# The models the bundle ships components for, with their Hugging Face repositories.
REQUIRED = {
    "bge-reranker-base": "BAAI/bge-reranker-base",
    "bge-reranker-v2-m3": "BAAI/bge-reranker-v2-m3",
    "gte-reranker-modernbert-base": "Alibaba-NLP/gte-reranker-modernbert-base",
    "qwen3-reranker-0.6b": "Qwen/Qwen3-Reranker-0.6B",
}
HUB_IDS = {
    **REQUIRED,
    "qwen3-reranker-4b": "Qwen/Qwen3-Reranker-4B",
    "qwen3-reranker-8b": "Qwen/Qwen3-Reranker-8B",
}
# The fields a model component may change; everything else is the overlay's.
MODEL_FIELDS = ("storageUri", "args")


@functools.cache
def _rendered(target: str) -> list[dict[str, Any]]:
    if "+" in target:
        return render_combination(target).objects
    return render(target).objects


def rendered(target: Path | str) -> list[dict[str, Any]]:
    """Objects of a kustomization or ``overlay+component``, rendered once (a copy each call)."""
    return copy.deepcopy(_rendered(str(target)))


def model_on(overlay: str, model: str) -> list[dict[str, Any]]:
    return rendered(f"{REPO / 'overlays' / overlay}+{REPO / 'components/models' / model}")


def isvc(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == "InferenceService"]
    return found


def last_flag(args: list[str], name: str) -> str | None:
    """The value the server takes: the last ``--name=value``."""
    values = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    return values[-1] if values else None


def test_the_issues_models_are_components() -> None:
    assert set(REQUIRED) <= set(MODELS)
    assert set(MODELS) <= set(HUB_IDS), "a new model component: add its hub id here"


@pytest.mark.parametrize("model", MODELS)
def test_each_model_claims_existing_overlays_and_a_length_within_its_limit(model: str) -> None:
    claim = CLAIMS[model]
    assert claim is not None and claim.name == model
    assert claim.fits and set(claim.fits) <= set(OVERLAYS), claim.fits
    assert claim.max_model_len is not None and claim.limit is not None
    assert claim.max_model_len <= claim.limit


def test_the_default_model_fits_every_overlay() -> None:
    assert sorted(CLAIMS["bge-reranker-base"].fits) == OVERLAYS


@pytest.mark.parametrize(("overlay", "model"), PAIRS)
def test_model_pins_its_repository_at_a_commit(overlay: str, model: str) -> None:
    uri = isvc(model_on(overlay, model))["spec"]["predictor"]["model"]["storageUri"]
    assert re.fullmatch(rf"hf://{re.escape(HUB_IDS[model])}:[0-9a-f]{{40}}", uri), uri


@pytest.mark.parametrize(("overlay", "model"), PAIRS)
def test_model_flags_come_last_and_keep_the_overlays_own(overlay: str, model: str) -> None:
    claim = CLAIMS[model]
    plain = isvc(rendered(REPO / "overlays" / overlay))["spec"]["predictor"]["model"]["args"]
    args = isvc(model_on(overlay, model))["spec"]["predictor"]["model"]["args"]
    assert args[: len(plain)] == plain  # the overlay's flags first, untouched
    assert last_flag(args, "max_model_len") == str(claim.max_model_len)
    assert last_flag(args, "model_family") == claim.family  # None: the server detects it
    for flag in ("dtype", "backend", "max_num_seqs", "gpu_memory_utilization"):
        assert last_flag(args, flag) == last_flag(plain, flag), flag


@pytest.mark.parametrize(("overlay", "model"), [p for p in PAIRS if p[0] != "cpu"])
def test_each_vllm_step_holds_one_full_length_pair(overlay: str, model: str) -> None:
    args = isvc(model_on(overlay, model))["spec"]["predictor"]["model"]["args"]
    assert int(last_flag(args, "max_num_batched_tokens")) >= int(last_flag(args, "max_model_len"))


@pytest.mark.parametrize(("overlay", "model"), PAIRS)
def test_model_component_changes_only_the_model_and_its_annotations(overlay: str, model: str) -> None:
    plain = rendered(REPO / "overlays" / overlay)
    combined = model_on(overlay, model)
    assert [o for o in combined if o["kind"] != "InferenceService"] == [
        o for o in plain if o["kind"] != "InferenceService"
    ]
    before, after = isvc(plain), isvc(combined)
    for service in (before, after):
        service["metadata"]["annotations"] = {
            k: v
            for k, v in service["metadata"]["annotations"].items()
            if not k.startswith("kserve-reranker.example.com/")
        }
        for name in MODEL_FIELDS:
            service["spec"]["predictor"]["model"].pop(name)
    assert after == before


def test_the_default_models_component_is_the_base_made_explicit() -> None:
    base = isvc(rendered(REPO / "base"))["spec"]["predictor"]["model"]
    for overlay in OVERLAYS:
        model = isvc(model_on(overlay, "bge-reranker-base"))["spec"]["predictor"]["model"]
        assert model["storageUri"] == base["storageUri"]


def test_a_model_component_listed_beside_an_overlays_patches_loses_its_length() -> None:
    # Kustomize runs a kustomization's components before its own patches: this is why the
    # README puts the overlay in resources and the model in components (model-fit catches it).
    case = REPO / "tests/bundle/broken/model-fit-length-overridden"
    args = isvc(rendered(case))["spec"]["predictor"]["model"]["args"]
    assert args.index("--max_model_len=8192") < args.index("--max_model_len=512")


def default_model() -> str:
    """The model component whose pinned model is the one base/ serves."""
    base = isvc(rendered(REPO / "base"))["spec"]["predictor"]["model"]["storageUri"]
    (found,) = [m for m in MODELS if isvc(model_on("cpu", m))["spec"]["predictor"]["model"]["storageUri"] == base]
    return found


def components_of(overlay: str) -> list[str]:
    kustomization = yaml.safe_load((REPO / "overlays" / overlay / "kustomization.yaml").read_text())
    return [
        str((REPO / "overlays" / overlay / c).resolve().relative_to(REPO))
        for c in kustomization.get("components") or []
    ]


def flags_stated_in(path: Path) -> list[str]:
    """The string values of a YAML file's documents that are ``--max_model_len`` flags (comments
    are not values)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and node.startswith("--max_model_len"):
            found.append(node)

    for document in yaml.safe_load_all(path.read_text()):
        walk(document)
    return found


def test_a_token_limit_is_stated_by_the_model_components_only() -> None:
    stated = {
        str(path.relative_to(REPO)): flags
        for folder in ("base", "overlays", "components")
        for path in sorted((REPO / folder).rglob("*.yaml"))
        if (flags := flags_stated_in(path))
    }
    assert {path.split("/")[2] for path in stated} == set(MODELS)
    assert all(path.startswith("components/models/") and len(flags) == 1 for path, flags in stated.items()), stated


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_gpu_overlay_takes_its_token_limit_from_the_default_models_component(overlay: str) -> None:
    components = components_of(overlay)
    args = isvc(rendered(REPO / "overlays" / overlay))["spec"]["predictor"]["model"]["args"]
    if "components/nvidia-gpu" in components:
        # vLLM sizes its steps against it (test_each_vllm_step_holds_one_full_length_pair).
        assert f"components/models/{default_model()}" in components
        assert last_flag(args, "max_model_len") == str(CLAIMS[default_model()].max_model_len)
    else:
        # No GPU: the torch engine takes the model's own limit, whichever model is mounted.
        assert last_flag(args, "max_model_len") is None
