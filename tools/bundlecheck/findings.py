"""What a check reports: findings about objects, grouped per rendered kustomization."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from .render import RenderError

SCHEMA = "schema"  # the check id of schema violations (a KServe kind without schema included)


class Status(str, Enum):
    VIOLATION = "violation"
    WAIVED = "waived"  # a violation of a policy named with --skip
    NOT_CHECKED = "not-checked"  # an object no schema covers (third-party kinds)


@dataclass(frozen=True)
class Finding:
    check: str  # a policy id, or "schema"
    obj: str  # "Kind/name" or "Kind/namespace/name"
    path: str  # field path inside the object, "" for the whole object
    message: str
    status: Status = Status.VIOLATION

    def waived(self) -> Finding:
        return Finding(self.check, self.obj, self.path, self.message, Status.WAIVED)


@dataclass
class TargetReport:
    """The outcome for one kustomization directory."""

    target: str
    renderer: str | None = None
    object_count: int = 0
    findings: list[Finding] = field(default_factory=list)
    error: RenderError | Exception | None = None
    checks_run: list[str] = field(default_factory=list)

    def with_status(self, status: Status) -> list[Finding]:
        return [f for f in self.findings if f.status is status]


def object_ref(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    parts = [obj.get("kind", "?"), metadata.get("namespace"), metadata.get("name", "?")]
    return "/".join(str(p) for p in parts if p)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def format_path(parts: Iterable[Any]) -> str:
    """``["spec", "limits", "nvidia.com/gpu"]`` -> ``spec.limits["nvidia.com/gpu"]``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f'["{part}"]'
    return text
