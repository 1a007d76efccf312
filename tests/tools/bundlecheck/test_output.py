"""output.py: the same reports as text, JSON and JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from bundlecheck.findings import Finding, Status, TargetReport
from bundlecheck.output import FORMATS, RunInfo, summary_counts, to_json, to_junit, to_text
from bundlecheck.render import RenderError

INFO = RunInfo("directory crds", "1.32", waived=["scaling"])


@pytest.fixture()
def reports() -> list[TargetReport]:
    checks = ["schema", "image-pinned", "scaling"]
    return [
        TargetReport(
            "overlays/cpu",
            renderer="pykustomize",
            object_count=3,
            checks_run=checks,
            findings=[
                Finding("image-pinned", "ServingRuntime/r", "spec.containers[0].image", "not pinned"),
                Finding("scaling", "InferenceService/m", "spec.predictor.minReplicas", "above max", Status.WAIVED),
                Finding("schema", "PodMonitor/p", "", "no schema", Status.NOT_CHECKED),
            ],
        ),
        TargetReport("overlays/t4", renderer="pykustomize", object_count=2, checks_run=checks),
        TargetReport("overlays/broken", error=RenderError("overlays/broken", "no kustomization.yaml")),
    ]


def test_should_count_every_outcome(reports: list[TargetReport]) -> None:
    assert summary_counts(reports) == {
        "kustomizations": 3,
        "objects": 5,
        "violations": 1,
        "waived": 1,
        "not_schema_checked": 1,
        "errors": 1,
    }


def test_text_should_give_one_line_per_target_and_finding_then_the_summary(reports: list[TargetReport]) -> None:
    lines = to_text(reports, INFO).splitlines()
    assert lines[:4] == [
        "overlays/cpu: 1 violation(s) (3 objects, rendered by pykustomize)",
        "  FAIL        ServingRuntime/r spec.containers[0].image: not pinned [image-pinned]",
        "  WAIVED      InferenceService/m spec.predictor.minReplicas: above max [scaling]",
        "  NOT CHECKED PodMonitor/p: no schema [schema]",
    ]
    assert lines[4] == "overlays/t4: ok (2 objects, rendered by pykustomize)"
    assert lines[5] == "overlays/broken: ERROR: cannot render overlays/broken: no kustomization.yaml"
    assert lines[6].startswith("Summary: 3 kustomization(s), 5 objects: 1 violation(s), 1 waived")
    assert lines[7] == "Schemas: Kubernetes 1.32, custom resources from directory crds. Waived policies: scaling."


def test_json_should_carry_every_finding_with_its_status(reports: list[TargetReport]) -> None:
    document = json.loads(to_json(reports, INFO))
    assert document["summary"]["violations"] == 1 and document["waived_policies"] == ["scaling"]
    cpu, _, broken = document["kustomizations"]
    assert [f["status"] for f in cpu["findings"]] == ["violation", "waived", "not-checked"]
    assert cpu["findings"][0] == {
        "status": "violation",
        "check": "image-pinned",
        "object": "ServingRuntime/r",
        "path": "spec.containers[0].image",
        "message": "not pinned",
    }
    assert broken["error"].startswith("cannot render overlays/broken")


def test_junit_should_fail_a_case_per_violated_check_and_skip_the_waived_ones(reports: list[TargetReport]) -> None:
    suites = ET.fromstring(to_junit(reports, INFO).split("\n", 1)[1]).findall("testsuite")
    cpu = {case.get("name"): case for case in suites[0].iter("testcase")}
    assert cpu["image-pinned"].find("failure") is not None
    assert cpu["scaling"].find("skipped") is not None
    assert "not-checked: PodMonitor/p" in cpu["schema"].find("system-out").text
    assert (suites[0].get("tests"), suites[0].get("failures"), suites[0].get("skipped")) == ("3", "1", "1")
    assert suites[1].get("failures") == "0"
    assert (suites[2].get("tests"), suites[2].get("errors")) == ("1", "1")


def test_every_format_should_be_selectable_by_name() -> None:
    assert sorted(FORMATS) == ["json", "junit", "text"]
