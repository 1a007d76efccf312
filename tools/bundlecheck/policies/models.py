"""A model component on an overlay: it runs where it claims to fit, with the length it sets.

The claim is the component's annotations (``model_components``); the render says where the pod
runs (the overlay sized for the GPU product it selects, or the overlay without a GPU: read from
the bundle's overlays/) and what the server gets (its own parsing of the merged args).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from ..kserve.predictor_labels import predictor_pods
from ..kserve.workloads import Pod, pods
from ..model_components import FITS_OVERLAYS, MODEL_FAMILY, ModelClaim, claim_from_annotations
from ..nvidia import requests_gpu, same_card, selected_gpu_product
from ..overlays import Overlay, bundle_overlays
from .base import Context, Violation, policy

# Families the server cannot tell from a model's files: the flag must reach it.
UNDETECTABLE_FAMILIES = {"qwen3-reranker"}
VLLM_BACKENDS = ("vllm", "auto")

PREDICTOR_PATH = ["spec", "predictor"]
ARGS_PATH = [*PREDICTOR_PATH, "model", "args"]


@policy(
    "model-fit",
    "a model component is sized for the overlays it claims (weights, activations, KV cache), "
    "and the server must get its --max_model_len (within the model's limit) and its family",
)
def check_model_fit(context: Context) -> Iterator[Violation]:
    placed = {id(pod.obj): pod for pod in pods(context.objects) if pod.path == PREDICTOR_PATH}
    overlays: list[Overlay] | None = None  # rendered only for a render with a model component
    for pod in predictor_pods(context.objects):
        claim = claim_from_annotations((pod.isvc.get("metadata") or {}).get("annotations"))
        if claim is None or not pod.container:
            continue  # no model component, or not our runtime
        if overlays is None:
            overlays = bundle_overlays(context.bundle_root) if context.bundle_root else []
        where = _overlay_of(placed[id(pod.isvc)], overlays) if id(pod.isvc) in placed else None
        yield from _claimed_overlay(pod.isvc, claim, where)
        settings = _server_settings(pod.container)
        if settings is not None:  # args the server refuses: server-flags says which
            yield from _served_settings(pod.isvc, claim, settings)


def _claimed_overlay(isvc: dict[str, Any], claim: ModelClaim, where: str | None):
    path = ["metadata", "annotations", FITS_OVERLAYS]
    if not claim.fits:
        yield Violation(isvc, path, f"model component {claim.name} claims no overlay it fits")
    elif where is not None and where not in claim.fits:
        yield Violation(
            isvc,
            path,
            f"{claim.name} fits {', '.join(claim.fits)}; this render runs it on {where}",
        )


def _served_settings(isvc: dict[str, Any], claim: ModelClaim, settings: Any):
    served = settings.max_model_len
    if claim.max_model_len is not None and served != claim.max_model_len:
        yield Violation(
            isvc,
            ARGS_PATH,
            f"{claim.name} sets --max_model_len={claim.max_model_len} but the server gets "
            f"{served} from a later flag: list the model component in a kustomization whose "
            "resource is the overlay, not beside the overlay's patches (or, to serve another "
            "length, change its max-model-len annotation too)",
        )
    if claim.limit is not None and served is not None and served > claim.limit:
        yield Violation(
            isvc,
            ARGS_PATH,
            f"--max_model_len={served} exceeds {claim.name}'s limit of {claim.limit} tokens",
        )
    batch = settings.max_num_batched_tokens
    if settings.backend in VLLM_BACKENDS and batch is not None and served and batch < served:
        yield Violation(
            isvc,
            ARGS_PATH,
            f"--max_num_batched_tokens={batch} is below --max_model_len={served}: a "
            "full-length pair does not fit one vLLM step (vLLM refuses the settings for models "
            "it cannot prefill in chunks, encoders among them)",
        )
    if claim.family and settings.model_family != claim.family:
        detectable = claim.family not in UNDETECTABLE_FAMILIES
        if not (detectable and settings.model_family == "auto"):
            yield Violation(
                isvc,
                ["metadata", "annotations", MODEL_FAMILY],
                f"{claim.name} is a {claim.family} model; the server gets --model_family={settings.model_family}",
            )


def _overlay_of(pod: Pod, overlays: list[Overlay]) -> str | None:
    """The overlay a pod runs on: the one without a GPU for a pod without one, else the one
    sized for the card its GPU product is (None where no overlay, or more than one, fits)."""
    if not any(requests_gpu(container.spec) for container in pod.containers):
        found = [overlay.name for overlay in overlays if not overlay.gpu]
    else:
        product = selected_gpu_product(pod.fields)
        found = [overlay.name for overlay in overlays if overlay.gpu and same_card(overlay.gpu_product, product)]
    return found[0] if len(found) == 1 else None


def _server_settings(container: dict[str, Any]) -> Any:
    """The settings the server would run with (its own parsing of args and plain env), or None
    when it refuses them."""
    from reranker.cli import settings_from

    environ = {
        e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if "valueFrom" not in e and e.get("name")
    }
    argv = [str(a) for a in container.get("args") or []]
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            return settings_from(argv, environ=environ)
    except SystemExit:
        return None
