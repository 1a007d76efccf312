"""Render one kustomization and run the schema check and every policy on its objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .findings import SCHEMA, Finding, Status, TargetReport
from .offline import OFFLINE, offline_findings, wants_offline
from .overlays import OVERLAYS_DIR
from .policies import POLICIES, Context
from .policies.secrets import component_secret_names
from .render import RenderError, is_combination, render, render_combination
from .schemas.checker import SchemaChecker


class PolicyError(Exception):
    """A policy failed to run (a bug in the policy, or an object shape it did not expect)."""


@dataclass
class CheckOptions:
    schemas: SchemaChecker
    skip: set[str] = field(default_factory=set)  # policy ids (or "schema") to waive
    # The bundle's components/ (their Secrets count as provided); None: the nearest
    # components/ folder above each kustomization.
    components_dir: Path | None = None
    renderer: str | None = None
    # Report what would reach the Hugging Face hub or a public registry (offline.py); a
    # kustomization that asks for it is checked so without it.
    offline: bool = False


def find_components_dir(target: Path) -> Path | None:
    """The nearest components/ folder at or above ``target``."""
    folder = _nearest_holding(target, Path("components"))
    return folder / "components" if folder else None


def find_bundle_root(target: Path) -> Path | None:
    """The nearest folder at or above ``target`` that holds overlays/."""
    return _nearest_holding(target, OVERLAYS_DIR)


def _nearest_holding(target: Path, name: Path) -> Path | None:
    for folder in [target, *target.parents]:
        if (folder / name).is_dir():
            return folder
    return None


def check_target(target: Path | str, options: CheckOptions) -> TargetReport:
    report = TargetReport(target=str(target))
    try:
        if is_combination(target):
            rendered = render_combination(target, renderer=options.renderer)
        else:
            rendered = render(target, renderer=options.renderer)
    except RenderError as error:
        report.error = error
        return report
    report.renderer, report.object_count = rendered.renderer, len(rendered.objects)

    findings: list[Finding] = []
    for obj in rendered.objects:
        findings.extend(options.schemas.check(obj))
    components_dir = options.components_dir or find_components_dir(rendered.path)
    secrets = component_secret_names(components_dir) if components_dir else set()
    context = Context(rendered.objects, component_secrets=secrets, bundle_root=find_bundle_root(rendered.path))
    for policy in POLICIES.values():
        try:
            findings.extend(policy.check(context))
        except Exception as error:  # a policy bug must not read as "violations" (exit 1)
            report.error = PolicyError(f"policy {policy.id} crashed: {error!r}")
            return report
    report.checks_run = [SCHEMA, *POLICIES]
    if options.offline or wants_offline(rendered.path):
        findings.extend(offline_findings(rendered.objects))
        report.checks_run.append(OFFLINE)

    # A runtime shared by two pods yields its findings twice: keep the first of each.
    unique = list(dict.fromkeys(findings))
    report.findings = [f.waived() if f.check in options.skip and f.status is Status.VIOLATION else f for f in unique]
    return report
