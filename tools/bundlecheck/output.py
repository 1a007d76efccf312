"""Reports as readable text, JSON, or JUnit XML (what CI systems display as test results)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .findings import Finding, Status, TargetReport


@dataclass
class RunInfo:
    schema_source: str
    kubernetes_version: str
    waived: list[str] = field(default_factory=list)


def summary_counts(reports: list[TargetReport]) -> dict[str, int]:
    return {
        "kustomizations": len(reports),
        "objects": sum(r.object_count for r in reports),
        "violations": sum(len(r.with_status(Status.VIOLATION)) for r in reports),
        "waived": sum(len(r.with_status(Status.WAIVED)) for r in reports),
        "not_schema_checked": sum(len(r.with_status(Status.NOT_CHECKED)) for r in reports),
        "errors": sum(1 for r in reports if r.error is not None),
    }


def _line(finding: Finding) -> str:
    where = f"{finding.obj} {finding.path}".strip()
    return f"{where}: {finding.message} [{finding.check}]"


_TEXT_LABEL = {Status.VIOLATION: "FAIL", Status.WAIVED: "WAIVED", Status.NOT_CHECKED: "NOT CHECKED"}


def to_text(reports: list[TargetReport], info: RunInfo) -> str:
    lines = []
    for report in reports:
        if report.error is not None:
            lines.append(f"{report.target}: ERROR: {report.error}")
            continue
        violations = len(report.with_status(Status.VIOLATION))
        state = f"{violations} violation(s)" if violations else "ok"
        lines.append(f"{report.target}: {state} ({report.object_count} objects, rendered by {report.renderer})")
        for status in (Status.VIOLATION, Status.WAIVED, Status.NOT_CHECKED):
            lines += [f"  {_TEXT_LABEL[status]:<11} {_line(f)}" for f in report.with_status(status)]
    counts = summary_counts(reports)
    lines.append(
        f"Summary: {counts['kustomizations']} kustomization(s), {counts['objects']} objects: "
        f"{counts['violations']} violation(s), {counts['waived']} waived, "
        f"{counts['not_schema_checked']} not schema-checked, "
        f"{counts['errors']} render/check error(s)."
    )
    lines.append(
        f"Schemas: Kubernetes {info.kubernetes_version}, "
        f"custom resources from {info.schema_source}."
        + (f" Waived policies: {', '.join(info.waived)}." if info.waived else "")
    )
    return "\n".join(lines) + "\n"


def to_json(reports: list[TargetReport], info: RunInfo) -> str:
    document = {
        "kubernetes_version": info.kubernetes_version,
        "schema_source": info.schema_source,
        "waived_policies": info.waived,
        "summary": summary_counts(reports),
        "kustomizations": [
            {
                "path": r.target,
                "renderer": r.renderer,
                "objects": r.object_count,
                "error": str(r.error) if r.error is not None else None,
                "findings": [
                    {
                        "status": f.status.value,
                        "check": f.check,
                        "object": f.obj,
                        "path": f.path,
                        "message": f.message,
                    }
                    for f in r.findings
                ],
            }
            for r in reports
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def to_junit(reports: list[TargetReport], info: RunInfo) -> str:
    """One test suite per kustomization, one test case per check (schema and each policy)."""
    root = ET.Element("testsuites", name="reranker-validate")
    for report in reports:
        suite = ET.SubElement(root, "testsuite", name=report.target)
        cases = 0
        failures = errors = skipped = 0
        if report.error is not None:
            case = ET.SubElement(suite, "testcase", classname=report.target, name="render-and-check")
            ET.SubElement(case, "error", message=str(report.error))
            cases, errors = 1, 1
        for check in report.checks_run:
            cases += 1
            case = ET.SubElement(suite, "testcase", classname=report.target, name=check)
            mine = [f for f in report.findings if f.check == check]
            failed = [f for f in mine if f.status is Status.VIOLATION]
            if failed:
                failures += 1
                failure = ET.SubElement(case, "failure", message=f"{len(failed)} violation(s)")
                failure.text = "\n".join(_line(f) for f in failed)
            elif check in info.waived:
                skipped += 1
                ET.SubElement(case, "skipped", message="waived with --skip")
            notes = [f for f in mine if f.status is not Status.VIOLATION]
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(f"{f.status.value}: {_line(f)}" for f in notes)
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
        suite.set("skipped", str(skipped))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


FORMATS = {"text": to_text, "json": to_json, "junit": to_junit}
