"""This bundle's policies. Each module registers its checks with ``@policy(id, reason)``; a check
yields Violations, which the registry reports under the policy's id (base.py)."""

from __future__ import annotations

from . import (  # noqa: F401  (registers)
    availability,
    gpu,
    images,
    model_cache,
    model_source,
    models,
    modes,
    pods,
    secrets,
    security,
    server_flags,
    storage,
)
from .base import REGISTRY, Context, Policy

POLICIES: dict[str, Policy] = dict(REGISTRY)

__all__ = ["POLICIES", "Context", "Policy"]
