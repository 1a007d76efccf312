"""The policy registry and what a policy sees."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, format_path, object_ref


@dataclass
class Context:
    """One rendered kustomization, plus what the bundle offers beyond it."""

    objects: list[dict[str, Any]]
    # Secret names the bundle's components can provide (secretGenerator, ExternalSecret ...).
    component_secrets: set[str] = field(default_factory=set)


Check = Callable[[Context], Iterable[Finding]]


@dataclass(frozen=True)
class Policy:
    id: str
    reason: str  # one line: why the bundle needs it
    check: Check


REGISTRY: dict[str, Policy] = {}


def policy(policy_id: str, reason: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        if policy_id in REGISTRY:
            raise ValueError(f"policy id {policy_id!r} registered twice")
        REGISTRY[policy_id] = Policy(policy_id, reason, check)
        return check

    return register


def violation(policy_id: str, obj: dict[str, Any], path: list[Any], message: str) -> Finding:
    return Finding(policy_id, object_ref(obj), format_path(path), message)
