"""Where the model comes from (components/model-source): an OCI model by digest, no Hugging Face
token where no hf:// model needs one, and the URI of the source the component chose."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .base import Context, Violation, policy
from .secrets import SECRET_PROVIDER_KINDS, rendered_secret_names
from .storage import HF_SCHEME, storage_uris

# The annotation each model-source component stamps on the InferenceService, and the scheme
# its URI must have.
SOURCE_ANNOTATION = "kserve-reranker.example.com/model-source"
SOURCE_SCHEMES = {"hf": "hf://", "oci": "oci://", "oci-native": "oci+native://", "pvc": "pvc://"}
HF_TOKEN = "HF_TOKEN"
# oci:// and oci+<mode>:// (KServe's ParseOciScheme): an image reference after the scheme.
_OCI_SCHEME = re.compile(r"^oci(\+[a-z]+)?://")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def is_oci(uri: str) -> bool:
    return bool(_OCI_SCHEME.match(uri))


@policy(
    "oci-digest",
    "an OCI model named by tag can be pushed over: every pull may serve different weights; "
    "name the image by its @sha256 digest",
)
def check_oci_digest(context: Context) -> Iterator[Violation]:
    for obj, path, uri in storage_uris(context.objects):
        if is_oci(uri) and not _DIGEST.search(uri):
            scheme = _OCI_SCHEME.match(uri).group(0)
            yield Violation(
                obj,
                path,
                f"{uri!r} is not pinned by digest: use {scheme}REGISTRY/IMAGE@sha256:<64-hex digest> "
                "(the digest `skopeo inspect --format '{{.Digest}}' docker://IMAGE` prints)",
            )


@policy(
    "hf-token-needed",
    "a Hugging Face token Secret in a bundle whose model comes from elsewhere is a credential "
    "in the cluster for nothing; leave out components/hf-token",
)
def check_hf_token_needed(context: Context) -> Iterator[Violation]:
    uris = [uri for _, _, uri in storage_uris(context.objects)]
    if not uris or any(uri.startswith(HF_SCHEME) for uri in uris):
        return
    sources = ", ".join(sorted(set(uris)))
    token_secrets = {name for _, _, name in hf_token_refs(context.objects)}
    provided = rendered_secret_names(context.objects) & token_secrets
    for obj in context.objects:
        if obj.get("kind") in SECRET_PROVIDER_KINDS and _provided(obj) in provided:
            yield Violation(
                obj,
                [],
                f"provides the Hugging Face token, but the model comes from {sources}, which needs "
                "none: leave out the hf-token component",
            )
    for obj, path, _ in hf_token_refs(context.objects):
        if obj.get("kind") != "ClusterStorageContainer":  # base's, optional: read for hf:// only
            yield Violation(obj, path, f"puts {HF_TOKEN} into the pod, but the model comes from {sources}")


@policy(
    "model-source",
    "the URI served must be the one of the model-source component listed: a model component "
    "listed after it puts its own hf:// URI back",
)
def check_model_source(context: Context) -> Iterator[Violation]:
    for obj, path, uri in storage_uris(context.objects):
        source = ((obj.get("metadata") or {}).get("annotations") or {}).get(SOURCE_ANNOTATION)
        if source is None:
            continue
        scheme = SOURCE_SCHEMES.get(source)
        if scheme is None:
            yield Violation(
                obj,
                ["metadata", "annotations", SOURCE_ANNOTATION],
                f"unknown model source {source!r}: one of {', '.join(SOURCE_SCHEMES)}",
            )
        elif not uri.startswith(scheme):
            yield Violation(
                obj,
                path,
                f"components/model-source/{source} serves {scheme} URIs, but the URI is {uri!r}: "
                "list the model component before the model-source component (and give "
                f"model-source.yaml a {scheme} URI)",
            )


def hf_token_refs(objects: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], list[Any], str]]:
    """(object, path, Secret name) of every env entry HF_TOKEN read from a Secret."""
    for obj in objects:
        yield from ((obj, path, name) for path, name in _token_env(obj, []))


def _token_env(node: Any, path: list[Any]) -> Iterator[tuple[list[Any], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                for index, entry in enumerate(value):
                    ref = ((entry or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                    if entry.get("name") == HF_TOKEN and ref.get("name"):
                        yield [*path, key, index], ref["name"]
            else:
                yield from _token_env(value, [*path, key])
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _token_env(item, [*path, index])


def _provided(obj: dict[str, Any]) -> str | None:
    return next(iter(rendered_secret_names([obj])), None)
