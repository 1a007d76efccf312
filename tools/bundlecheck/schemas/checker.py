"""Check each rendered object against its schema.

- Built-in Kubernetes kinds: the strict JSON schemas of ``kubernetes-validate`` for a chosen
  Kubernetes version (unknown fields are errors). The package reports one error per object.
- Kinds with a CRD in the loaded ``CrdSchemas`` (KServe's, or any CRD the source holds): the
  CRD's openAPIV3Schema made strict (see strict.py); every error is reported, and metadata is
  checked as ObjectMeta.
- Other custom resources (PodMonitor, ExternalSecret, SealedSecret, ScaledObject, Argo CD and
  Flux objects ...) without a CRD in that source: their JSON schema from the CRDs-catalog
  source (catalog.py), made strict the same way; metadata again checked as ObjectMeta.
- A KServe kind with no CRD is a violation; any other kind without a schema is reported as not
  schema-checked, or as a violation when schemas are required.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate

from ..findings import SCHEMA, Finding, Status, format_path, object_ref
from .catalog import CatalogSource
from .crds import CrdSchemas, is_kserve
from .strict import strict_schema

DEFAULT_KUBERNETES_VERSION = "1.32"
# Long values (a whole container) make jsonschema messages unreadable.
MAX_MESSAGE = 240
# Groups served by the Kubernetes API server itself: no schema for one of these is an error.
_BUILTIN_SHORT_GROUPS = {"", "apps", "batch", "autoscaling", "policy", "extensions"}


def is_builtin(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group in _BUILTIN_SHORT_GROUPS or group.endswith(".k8s.io")


class SchemaChecker:
    def __init__(
        self,
        crds: CrdSchemas,
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        catalog: CatalogSource | None = None,
        require: bool = False,
    ):
        self.crds = crds
        self.kubernetes_version = kubernetes_version
        self.catalog = catalog
        # A kind without a schema is a violation instead of a note.
        self.require = require
        self._validators: dict[tuple[str, str, str], jsonschema.protocols.Validator | None] = {}

    def check(self, obj: dict[str, Any]) -> list[Finding]:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        ref = object_ref(obj)
        validator = self._crd_validator(api_version, kind)
        if validator is not None:
            return list(self._crd_findings(validator, obj, ref))
        if is_kserve(api_version):
            return [
                Finding(
                    SCHEMA,
                    ref,
                    "",
                    f"no schema for KServe kind {api_version} {kind} in {self.crds.source}",
                )
            ]
        return self._builtin_findings(obj, ref, api_version, kind)

    def _crd_validator(self, api_version: str, kind: str):
        schema = self.crds.lookup(api_version, kind)
        return self._validator(("crd", api_version, kind), schema)

    def _catalog_validator(self, api_version: str, kind: str):
        if self.catalog is None:
            return None
        key = ("catalog", api_version, kind)
        if key not in self._validators:
            self._validators[key] = self._validator(key, self.catalog.lookup(api_version, kind))
        return self._validators[key]

    def _validator(self, key: tuple[str, str, str], schema: dict[str, Any] | None):
        if schema is None:
            return None
        if key not in self._validators:
            # openAPIV3Schema is JSON Schema draft 4 plus OpenAPI keywords (the catalog's files
            # are the same schemas as JSON).
            self._validators[key] = jsonschema.Draft4Validator(strict_schema(schema))
        return self._validators[key]

    def _crd_findings(self, validator, obj: dict[str, Any], ref: str) -> Iterator[Finding]:
        for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.path))):
            yield from _findings_from_error(error, ref)
        # ObjectMeta through a core kind: the same strict check the API server makes.
        probe = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
        yield from self._builtin_findings(probe, ref, "v1", "ConfigMap")

    def _builtin_findings(self, obj: dict[str, Any], ref: str, api_version: str, kind: str) -> list[Finding]:
        try:
            kubernetes_validate.validate(obj, self.kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            return list(_findings_from_error(error, ref))
        except kubernetes_validate.SchemaNotFoundError:
            # gateway.networking.k8s.io and the like: CRDs in a built-in-looking group.
            validator = self._catalog_validator(api_version, kind)
            if validator is not None:
                return list(self._crd_findings(validator, obj, ref))
            if is_builtin(api_version):
                return [
                    Finding(
                        SCHEMA,
                        ref,
                        "",
                        f"{api_version} {kind} does not exist in Kubernetes {self.kubernetes_version}",
                    )
                ]
            where = f" in {self.catalog.source}" if self.catalog is not None else ""
            return [
                Finding(
                    SCHEMA,
                    ref,
                    "",
                    f"{api_version} {kind}: no schema available{where}, not schema-checked",
                    Status.VIOLATION if self.require else Status.NOT_CHECKED,
                )
            ]
        return []


def _findings_from_error(error: jsonschema.ValidationError, ref: str) -> Iterator[Finding]:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties") or {}
        for name in sorted(set(error.instance) - set(declared)):
            yield Finding(SCHEMA, ref, format_path([*path, name]), f"unknown field {name!r}")
        return
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    yield Finding(SCHEMA, ref, format_path(path), message)
