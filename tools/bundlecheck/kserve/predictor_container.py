"""Build the predictor's ``kserve-container`` from rendered objects, the way KServe does.

What KServe v0.20 does, and what this module repeats (kserve/kserve,
pkg/controller/v1beta1/inferenceservice/components/predictor.go ``buildPodSpec`` and
.../inferenceservice/utils ``MergeRuntimeContainers`` and ``ReplacePlaceholders``):

1. the runtime named by ``spec.predictor.model.runtime`` gives its container ``kserve-container``;
2. the model spec (a Container inlined next to modelFormat, runtime, storageUri...) is laid over
   it with a Kubernetes strategic merge patch: maps merge key by key, ``env`` merges by name
   (the InferenceService wins), ``ports`` by containerPort, other lists are replaced;
3. ``args`` are then set to the runtime's args followed by the model's (concatenated, not
   replaced);
4. ``{{.Name}}``-style Go template placeholders anywhere in the container are filled from the
   InferenceService's metadata;
5. ``INFERENCE_SERVICE_NAME`` is added to the container's env.

The kubelet then runs ``command`` (or the image's ENTRYPOINT when there is none) followed by
``args`` (or the image's CMD when neither is set), expanding ``$(VAR)`` from the container's env:
``container_argv`` does that part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .container_merge import KSERVE_CONTAINER, merge_containers, runtimes_by_name

# ModelSpec fields that are not Container fields: KServe reads them itself.
MODEL_ONLY_FIELDS = (
    "modelFormat",
    "runtime",
    "runtimeVersion",
    "protocolVersion",
    "storageUri",
    "storage",
)
INFERENCE_SERVICE_NAME_ENV = "INFERENCE_SERVICE_NAME"
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")

_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}")
_FIELD = re.compile(r"^\s*\.(Name|Namespace)\s*$")
_INDEX = re.compile(r'^\s*index\s+\.(Labels|Annotations)\s+"([^"]*)"\s*$')
_ENV_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class KServeCommandError(Exception):
    """The objects do not give KServe what it needs to build the container."""


@dataclass(frozen=True)
class PredictorContainer:
    """The merged ``kserve-container`` of one InferenceService predictor."""

    isvc_name: str
    runtime_name: str
    spec: dict[str, Any]

    @property
    def command(self) -> list[str] | None:
        return self.spec.get("command") or None

    @property
    def args(self) -> list[str]:
        return list(self.spec.get("args") or [])

    @property
    def image(self) -> str:
        return self.spec.get("image", "")

    def plain_env(self) -> dict[str, str]:
        """The env entries with a literal value (``valueFrom`` needs a cluster)."""
        return {e["name"]: str(e.get("value", "")) for e in self.spec.get("env") or [] if "valueFrom" not in e}

    def port_number(self, port: int | str) -> int:
        """A probe's ``port``: a number, or the name of one of the container's ports."""
        if isinstance(port, int) or str(port).isdigit():
            return int(port)
        for entry in self.spec.get("ports") or []:
            if entry.get("name") == port:
                return int(entry["containerPort"])
        raise KServeCommandError(f"{self.isvc_name}: no container port named {port!r}")

    def serving_port(self) -> int:
        """The first declared container port: the one KServe's Service sends traffic to."""
        ports = self.spec.get("ports") or []
        if not ports:
            raise KServeCommandError(f"{self.isvc_name}: kserve-container declares no port")
        return int(ports[0]["containerPort"])

    def http_probe(self, kind: str) -> tuple[str, int] | None:
        """(path, port number) of an httpGet probe, or None when the container has none."""
        http_get = (self.spec.get(kind) or {}).get("httpGet")
        if not http_get:
            return None
        return http_get.get("path", "/"), self.port_number(http_get["port"])


def predictor_container(
    objects: list[dict[str, Any]], isvc_name: str | None = None, namespace: str | None = None
) -> PredictorContainer:
    """The predictor's merged ``kserve-container`` for the InferenceService ``isvc_name`` (or
    the only one in ``objects``), with its runtime taken from the same objects."""
    isvc = _find_isvc(objects, isvc_name)
    metadata = isvc.get("metadata") or {}
    name = metadata["name"]
    model = ((isvc.get("spec") or {}).get("predictor") or {}).get("model")
    if not isinstance(model, dict):
        raise KServeCommandError(f"{name}: no spec.predictor.model (custom containers are not built by KServe)")
    runtime_name = model.get("runtime")
    if not runtime_name:
        raise KServeCommandError(
            f"{name}: spec.predictor.model.runtime is not set; runtime auto-selection needs a cluster"
        )
    runtime = runtimes_by_name(objects).get(runtime_name)
    if runtime is None:
        raise KServeCommandError(f"{name}: runtime {runtime_name!r} is not among the rendered objects")
    runtime_container = next(
        (c for c in (runtime.get("spec") or {}).get("containers") or [] if c.get("name") == KSERVE_CONTAINER),
        None,
    )
    if runtime_container is None:
        raise KServeCommandError(f"runtime {runtime_name}: no container named {KSERVE_CONTAINER}")

    model_container = {k: v for k, v in model.items() if k not in MODEL_ONLY_FIELDS}
    merged = merge_containers(runtime_container, model_container)
    meta = {**metadata, "namespace": namespace or metadata.get("namespace") or "default"}
    merged = replace_placeholders(merged, meta)
    merged["env"] = _set_env(merged.get("env") or [], INFERENCE_SERVICE_NAME_ENV, name)
    return PredictorContainer(isvc_name=name, runtime_name=runtime_name, spec=merged)


def replace_placeholders(value: Any, metadata: dict[str, Any]) -> Any:
    """Fill ``{{.Name}}``, ``{{.Namespace}}`` and ``{{index .Labels "k"}}`` /
    ``{{index .Annotations "k"}}`` in every string, as KServe's template over ObjectMeta does.
    Any other template is an error here (KServe would evaluate it; we would only guess)."""
    if isinstance(value, dict):
        return {k: replace_placeholders(v, metadata) for k, v in value.items()}
    if isinstance(value, list):
        return [replace_placeholders(v, metadata) for v in value]
    if isinstance(value, str) and "{{" in value and "}}" in value:
        return _PLACEHOLDER.sub(lambda match: _placeholder_value(match.group(1), metadata), value)
    return value


def container_argv(container: PredictorContainer, entrypoint: list[str], cmd: list[str] | None = None) -> list[str]:
    """The process the kubelet starts: Kubernetes' command/args rules over the image's
    ENTRYPOINT and CMD, with ``$(VAR)`` expanded from the container's env."""
    if container.command:
        argv = [*container.command, *container.args]
    elif "args" in container.spec:
        argv = [*entrypoint, *container.args]
    else:
        argv = [*entrypoint, *(cmd or [])]
    if not argv:
        raise KServeCommandError(f"{container.isvc_name}: no command, no image ENTRYPOINT and no CMD")
    env = container.plain_env()
    return [_expand_env_references(arg, env) for arg in argv]


def _find_isvc(objects: list[dict[str, Any]], name: str | None) -> dict[str, Any]:
    found = [o for o in objects if o.get("kind") == "InferenceService"]
    if name is not None:
        found = [o for o in found if (o.get("metadata") or {}).get("name") == name]
    if len(found) != 1:
        wanted = f"InferenceService {name!r}" if name else "one InferenceService"
        raise KServeCommandError(f"expected {wanted} among the objects, found {len(found)}")
    return found[0]


def _placeholder_value(expression: str, metadata: dict[str, Any]) -> str:
    if field := _FIELD.match(expression):
        return str(metadata.get(field.group(1).lower()) or "")
    if index := _INDEX.match(expression):
        return str((metadata.get(index.group(1).lower()) or {}).get(index.group(2), ""))
    raise KServeCommandError(f"unsupported placeholder {{{{{expression}}}}}")


def _set_env(env: list[dict[str, Any]], name: str, value: str) -> list[dict[str, Any]]:
    # KServe's AddEnvVarToPodSpec: overwrite the value in place, or append.
    for entry in env:
        if entry.get("name") == name:
            entry["value"] = value
            return env
    return [*env, {"name": name, "value": value}]


def _expand_env_references(arg: str, env: dict[str, str]) -> str:
    # Kubernetes: $(VAR) becomes VAR's value when VAR is defined, stays as is otherwise; $$ is $.
    def expand(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _ENV_REFERENCE.sub(expand, arg)
