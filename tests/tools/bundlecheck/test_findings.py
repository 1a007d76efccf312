"""findings.py: what a check reports, and how it names objects and field paths."""

from __future__ import annotations

import pytest

from bundlecheck.findings import Finding, Status, TargetReport, format_path, object_ref


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["spec", "predictor", "model", "args", 5], "spec.predictor.model.args[5]"),
        (["spec", "limits", "nvidia.com/gpu"], 'spec.limits["nvidia.com/gpu"]'),
        (
            ["metadata", "annotations", "serving.kserve.io/deploymentMode"],
            'metadata.annotations["serving.kserve.io/deploymentMode"]',
        ),
        (["env", 0, "value_from"], "env[0].value_from"),
        ([], ""),
    ],
)
def test_should_write_a_field_path_as_the_reports_show_it(parts: list, text: str) -> None:
    assert format_path(parts) == text


def test_should_name_an_object_by_kind_namespace_and_name() -> None:
    assert object_ref({"kind": "Secret", "metadata": {"name": "s"}}) == "Secret/s"
    assert object_ref({"kind": "HelmRelease", "metadata": {"name": "r", "namespace": "flux-system"}}) == (
        "HelmRelease/flux-system/r"
    )
    assert object_ref({}) == "?/?"


def test_a_waived_finding_should_keep_everything_but_its_status() -> None:
    finding = Finding("image-pinned", "ServingRuntime/r", "spec.containers[0].image", "not pinned")
    waived = finding.waived()
    assert waived.status is Status.WAIVED
    assert (waived.check, waived.obj, waived.path, waived.message) == (
        finding.check,
        finding.obj,
        finding.path,
        finding.message,
    )


def test_a_report_should_list_its_findings_by_status() -> None:
    violation = Finding("scaling", "InferenceService/m", "spec.predictor.minReplicas", "above max")
    note = Finding("schema", "PodMonitor/p", "", "no schema", Status.NOT_CHECKED)
    report = TargetReport("overlays/cpu", findings=[violation, note])
    assert report.with_status(Status.VIOLATION) == [violation]
    assert report.with_status(Status.NOT_CHECKED) == [note]
    assert report.with_status(Status.WAIVED) == []
