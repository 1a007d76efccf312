"""Small CustomResourceDefinitions for the schema tests: KServe's InferenceService with an open
object for a schema (what a schema source must accept), and a Widget whose schema uses every
OpenAPI keyword the strict conversion handles."""

from __future__ import annotations

from typing import Any

TINY_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "serving.kserve.io",
        "names": {"kind": "InferenceService"},
        "versions": [
            {"name": "v1beta1", "served": True, "schema": {"openAPIV3Schema": {"type": "object"}}},
        ],
    },
}

WIDGET_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "size": {"x-kubernetes-int-or-string": True},
                "note": {"type": "string", "nullable": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "optional": {
                    "type": "object",
                    "nullable": True,
                    "properties": {"flag": {"type": "boolean"}},
                },
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {"spec": {"type": "object"}},
                },
            },
        },
    },
}
WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "spec": {
        "group": "example.kserve.io",
        "names": {"kind": "Widget"},
        "versions": [{"name": "v1", "served": True, "schema": {"openAPIV3Schema": WIDGET_SCHEMA}}],
    },
}


def widget(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.kserve.io/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "spec": spec,
    }
