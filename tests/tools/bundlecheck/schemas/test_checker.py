"""checker.py: the schema checker on small CRDs and built-in kinds."""

from __future__ import annotations

import pytest

from bundlecheck.findings import SCHEMA, Status
from bundlecheck.schemas.checker import SchemaChecker
from bundlecheck.schemas.crds import from_documents
from tests.tools.bundlecheck.schemas.sample_crds import WIDGET_CRD, widget


@pytest.fixture()
def checker() -> SchemaChecker:
    return SchemaChecker(from_documents("test", [WIDGET_CRD]))


def test_should_accept_declared_fields(checker: SchemaChecker) -> None:
    obj = widget(size="10Gi", note=None, labels={"x": "y"}, free={"anything": [1]})
    assert checker.check(obj) == []


def test_should_keep_a_nullable_object_strict(checker: SchemaChecker) -> None:
    assert checker.check(widget(optional=None)) == []
    assert [f.path for f in checker.check(widget(optional={"flg": True}))] == ["spec.optional.flg"]


def test_should_accept_kind_and_metadata_in_an_embedded_resource(checker: SchemaChecker) -> None:
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert checker.check(widget(template=template)) == []
    assert [f.path for f in checker.check(widget(template={"extra": 1}))] == ["spec.template.extra"]


def test_should_accept_int_or_string_as_either(checker: SchemaChecker) -> None:
    assert checker.check(widget(size=3)) == []
    assert [f.path for f in checker.check(widget(size=[3]))] == ["spec.size"]


def test_should_report_each_unknown_field_with_its_path(checker: SchemaChecker) -> None:
    findings = checker.check(widget(colour="red", shape="round"))
    assert [(f.check, f.path, f.message) for f in findings] == [
        (SCHEMA, "spec.colour", "unknown field 'colour'"),
        (SCHEMA, "spec.shape", "unknown field 'shape'"),
    ]


def test_should_check_metadata_as_object_meta(checker: SchemaChecker) -> None:
    obj = widget()
    obj["metadata"]["annotation"] = {"typo": "s missing"}
    assert [f.path for f in checker.check(obj)] == ["metadata.annotation"]


def test_should_report_a_kserve_kind_without_schema_as_violation(checker: SchemaChecker) -> None:
    obj = {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "TrainedModel",
        "metadata": {"name": "t"},
    }
    (finding,) = checker.check(obj)
    assert finding.status is Status.VIOLATION
    assert "no schema for KServe kind" in finding.message


def test_should_report_a_third_party_kind_as_not_checked(checker: SchemaChecker) -> None:
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": "p"},
    }
    (finding,) = checker.check(obj)
    assert finding.status is Status.NOT_CHECKED


def test_should_check_builtin_kinds_strictly(checker: SchemaChecker) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"a": "b"},
    }
    assert checker.check(config_map) == []
    config_map["dta"] = {}
    assert [f.path for f in checker.check(config_map)] == ["dta"]


def test_should_reject_a_builtin_kind_unknown_to_the_kubernetes_version(
    checker: SchemaChecker,
) -> None:
    obj = {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"}}
    (finding,) = checker.check(obj)
    assert finding.status is Status.VIOLATION
    assert "does not exist in Kubernetes" in finding.message
