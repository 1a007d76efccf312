"""This bundle's policies. Each module registers its checks with ``@policy(id, reason)``."""

from __future__ import annotations

from . import gpu, images, modes, secrets, security, server_flags, storage  # noqa: F401  (registers)
from .base import REGISTRY, Context, Policy

POLICIES: dict[str, Policy] = dict(REGISTRY)

__all__ = ["POLICIES", "Context", "Policy"]
