"""strict.py: a CRD's structural schema as a JSON schema that rejects unknown fields, as the API
server does."""

from __future__ import annotations

import jsonschema

from bundlecheck.schemas.strict import strict_schema
from tests.tools.bundlecheck.schemas.sample_crds import WIDGET_SCHEMA, widget


def test_strict_schema_keeps_preserve_unknown_nodes_open() -> None:
    validator = jsonschema.Draft4Validator(strict_schema(WIDGET_SCHEMA))
    assert validator.is_valid(widget(free={"nested": {"deep": True}}))
    assert not validator.is_valid(widget(labels={"x": 1}))


def test_should_close_every_object_without_its_own_additional_properties() -> None:
    schema = strict_schema(WIDGET_SCHEMA)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert schema["properties"]["spec"]["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in schema["properties"]["spec"]["properties"]["free"]


def test_should_spell_openapi_keywords_as_json_schema_types() -> None:
    spec = strict_schema(WIDGET_SCHEMA)["properties"]["spec"]["properties"]
    assert spec["size"]["type"] == ["integer", "string"]  # x-kubernetes-int-or-string
    assert spec["note"]["type"] == ["string", "null"]  # nullable
    assert set(spec["template"]["properties"]) == {"apiVersion", "kind", "metadata", "spec"}  # embedded resource


def test_should_leave_the_root_metadata_to_the_object_meta_check() -> None:
    schema = strict_schema({"type": "object", "properties": {"metadata": {"type": "object", "properties": {}}}})
    assert schema["properties"]["metadata"] == {"type": "object"}
