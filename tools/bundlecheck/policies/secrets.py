"""Secrets: no data in Git, and every reference finds a Secret somebody provides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .base import Context, Violation, policy

# Kinds whose controllers create a Secret, and where its name is when it differs from theirs.
SECRET_PROVIDER_KINDS = {
    "Secret": (),
    "ExternalSecret": ("spec", "target", "name"),
    "SealedSecret": ("spec", "template", "metadata", "name"),
}
# Kustomize's generators append "-" and a 10-character hash to the name.
_GENERATED_SUFFIX = re.compile(r"^(?P<base>.+)-[a-z0-9]{10}$")


@policy(
    "no-secret-data",
    "a Secret with data in the rendered bundle would put credentials into Git; use a "
    "secret component (ExternalSecret, SealedSecret, a git-ignored env file)",
)
def check_no_secret_data(context: Context) -> Iterator[Violation]:
    for obj in context.objects:
        if obj.get("kind") != "Secret":
            continue
        for key in ("data", "stringData"):
            if obj.get(key):
                # Name the keys only: the report must not repeat the values.
                yield Violation(
                    obj,
                    [key],
                    f"Secret carries {key} ({', '.join(sorted(obj[key]))}) in the rendered bundle",
                )


@policy(
    "secret-ref-resolves",
    "a reference to a Secret nobody creates leaves the pod without its credentials (or stuck "
    "in CreateContainerConfigError)",
)
def check_secret_refs(context: Context) -> Iterator[Violation]:
    rendered = rendered_secret_names(context.objects)
    for obj in context.objects:
        for path, name in secret_references(obj):
            if name in rendered:
                continue
            generated = sorted(n for n in rendered if _generated_from(n) == name)
            if generated:
                yield Violation(
                    obj,
                    path,
                    f"refers to Secret {name!r} but the bundle generates {generated[0]!r}: "
                    "teach kustomize this field (configurations: nameReference)",
                )
            elif name not in context.component_secrets:
                yield Violation(
                    obj,
                    path,
                    f"refers to Secret {name!r}, which neither this render nor any component provides",
                )


def rendered_secret_names(objects: list[dict[str, Any]]) -> set[str]:
    names = set()
    for obj in objects:
        if obj.get("kind") in SECRET_PROVIDER_KINDS:
            names.add(_provided_name(obj))
    return names - {None}


def component_secret_names(components_dir: Path) -> set[str]:
    """Secret names the components under ``components_dir`` provide, read from their files
    (without rendering: a secretGenerator's env file is git-ignored and usually absent)."""
    names: set[str] = set()
    if not components_dir.is_dir():
        return names
    # Components nest (components/api-key/external-secret): every level counts.
    for kustomization in sorted(components_dir.rglob("kustomization.y*ml")):
        config = yaml.safe_load(kustomization.read_text()) or {}
        names.update(g["name"] for g in config.get("secretGenerator") or [] if g.get("name"))
        for resource in config.get("resources") or []:
            path = kustomization.parent / resource
            if path.is_file():
                for doc in yaml.safe_load_all(path.read_text()):
                    if isinstance(doc, dict) and doc.get("kind") in SECRET_PROVIDER_KINDS:
                        names.add(_provided_name(doc))
    return names - {None}


def secret_references(obj: Any, path: list[Any] | None = None) -> Iterator[tuple[list[Any], str]]:
    """(path, name) of every env secretKeyRef, envFrom secretRef and secret volume in obj,
    wherever it sits (custom resources embed containers at many depths)."""
    path = path or []
    if isinstance(obj, dict):
        for key, value in obj.items():
            here = [*path, key]
            if key == "secretKeyRef" and isinstance(value, dict) and value.get("name"):
                yield [*here, "name"], value["name"]
            elif key == "envFrom" and isinstance(value, list):
                for index, source in enumerate(value):
                    ref = (source or {}).get("secretRef") or {}
                    if ref.get("name"):
                        yield [*here, index, "secretRef", "name"], ref["name"]
            elif key == "volumes" and isinstance(value, list):
                for index, volume in enumerate(value):
                    secret = (volume or {}).get("secret") or {}
                    if secret.get("secretName"):
                        yield [*here, index, "secret", "secretName"], secret["secretName"]
            else:
                yield from secret_references(value, here)
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            yield from secret_references(item, [*path, index])


def _provided_name(obj: dict[str, Any]) -> str | None:
    target_path = SECRET_PROVIDER_KINDS[obj["kind"]]
    value: Any = obj if target_path else None
    for key in target_path:
        value = value.get(key) if isinstance(value, dict) else None
    return value or (obj.get("metadata") or {}).get("name")


def _generated_from(name: str) -> str | None:
    match = _GENERATED_SUFFIX.match(name)
    return match.group("base") if match else None
