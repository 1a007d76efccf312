"""The policy registry and what a policy sees.

A policy yields Violations (an object, a field path in it, a message); the registry turns them
into Findings under the policy's id, so that a policy never repeats its own id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..findings import Finding, format_path, object_ref


@dataclass
class Context:
    """One rendered kustomization, plus what the bundle offers beyond it."""

    objects: list[dict[str, Any]]
    # Secret names the bundle's components can provide (secretGenerator, ExternalSecret ...).
    component_secrets: set[str] = field(default_factory=set)
    # The folder holding the bundle's overlays/ (model-fit names the overlay a pod runs on);
    # None: unknown, and model-fit cannot tell.
    bundle_root: Path | None = None


@dataclass(frozen=True)
class Violation:
    obj: dict[str, Any]
    path: list[Any]  # field path inside obj
    message: str


Find = Callable[[Context], Iterable[Violation]]


@dataclass(frozen=True)
class Policy:
    id: str
    reason: str  # one line: why the bundle needs it
    find: Find

    def check(self, context: Context) -> Iterator[Finding]:
        for found in self.find(context):
            yield Finding(self.id, object_ref(found.obj), format_path(found.path), found.message)


REGISTRY: dict[str, Policy] = {}


def policy(policy_id: str, reason: str) -> Callable[[Find], Find]:
    def register(find: Find) -> Find:
        if policy_id in REGISTRY:
            raise ValueError(f"policy id {policy_id!r} registered twice")
        REGISTRY[policy_id] = Policy(policy_id, reason, find)
        return find

    return register
