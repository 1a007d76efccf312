"""Render one kustomization and run the schema check and every policy on its objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .findings import SCHEMA, Finding, Status, TargetReport
from .policies import POLICIES, Context
from .render import RenderError, render
from .schemas import SchemaChecker


class PolicyError(Exception):
    """A policy failed to run (a bug in the policy, or an object shape it did not expect)."""


@dataclass
class CheckOptions:
    schemas: SchemaChecker
    skip: set[str] = field(default_factory=set)  # policy ids (or "schema") to waive
    component_secrets: set[str] = field(default_factory=set)
    renderer: str | None = None


def check_target(target: Path | str, options: CheckOptions) -> TargetReport:
    report = TargetReport(target=str(target))
    try:
        rendered = render(target, renderer=options.renderer)
    except RenderError as error:
        report.error = error
        return report
    report.renderer, report.object_count = rendered.renderer, len(rendered.objects)

    findings: list[Finding] = []
    for obj in rendered.objects:
        findings.extend(options.schemas.check(obj))
    context = Context(rendered.objects, component_secrets=options.component_secrets)
    for policy in POLICIES.values():
        try:
            findings.extend(policy.check(context))
        except Exception as error:  # a policy bug must not read as "violations" (exit 1)
            report.error = PolicyError(f"policy {policy.id} crashed: {error!r}")
            return report
    report.checks_run = [SCHEMA, *POLICIES]

    # A runtime shared by two pods yields its findings twice: keep the first of each.
    unique = list(dict.fromkeys(findings))
    report.findings = [
        f.waived() if f.check in options.skip and f.status is Status.VIOLATION else f
        for f in unique
    ]
    return report
