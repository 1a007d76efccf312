"""What the policy tests share: the repository, one object of a kind, and a policy's findings as
(object, field path) pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bundlecheck.policies import POLICIES, Context

REPO = Path(__file__).resolve().parents[4]


def findings(policy_id: str, objects: list[dict[str, Any]], **context: Any) -> list[tuple[str, str]]:
    return [(f.obj, f.path) for f in POLICIES[policy_id].check(Context(objects, **context))]


def the(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(o for o in objects if o["kind"] == kind)
