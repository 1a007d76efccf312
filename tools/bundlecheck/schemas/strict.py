"""Turn a CRD's structural openAPIV3Schema into a JSON schema that rejects unknown fields.

The API server prunes (or, with strict field validation, rejects) every field a structural
schema does not declare, unless the node says ``x-kubernetes-preserve-unknown-fields``. JSON
Schema accepts undeclared fields by default, so each object node without that marker and
without its own ``additionalProperties`` gets ``additionalProperties: false``.
"""

from __future__ import annotations

from typing import Any

INT_OR_STRING = "x-kubernetes-int-or-string"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
EMBEDDED_RESOURCE = "x-kubernetes-embedded-resource"
# An embedded object (a pod template in a custom resource) has these even when undeclared.
_EMBEDDED_FIELDS = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object", PRESERVE_UNKNOWN: True},
}


def strict_schema(schema: dict[str, Any], root: bool = True) -> dict[str, Any]:
    node = dict(schema)
    is_object = node.get("type") == "object"
    if node.get(INT_OR_STRING):
        node["type"] = ["integer", "string"]
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]

    if node.get(EMBEDDED_RESOURCE):
        node["properties"] = {**_EMBEDDED_FIELDS, **(node.get("properties") or {})}
    if "properties" in node:
        node["properties"] = {name: _strict_property(name, sub, root) for name, sub in node["properties"].items()}
    if isinstance(node.get("items"), dict):
        node["items"] = strict_schema(node["items"], root=False)
    if isinstance(node.get("additionalProperties"), dict):
        node["additionalProperties"] = strict_schema(node["additionalProperties"], root=False)

    if is_object and "additionalProperties" not in node and not node.get(PRESERVE_UNKNOWN):
        node["additionalProperties"] = False
    # allOf/anyOf/oneOf/not only add value checks in a structural schema: left unchanged.
    return node


def _strict_property(name: str, schema: dict[str, Any], root: bool) -> dict[str, Any]:
    if root and name == "metadata":
        # A CRD declares metadata as a bare object; the API server checks it as ObjectMeta,
        # which checker.py does against the Kubernetes schema.
        return {"type": "object"}
    return strict_schema(schema, root=False)
