"""Container hardening and resource sanity."""

from __future__ import annotations

from typing import Any, Iterator

from kubernetes.utils import parse_quantity

from ..findings import Finding
from ..workloads import effective_containers
from .base import Context, policy, violation


@policy(
    "non-root",
    "a container running as root, or able to gain privileges, turns a server bug into a node "
    "compromise",
)
def check_non_root(context: Context) -> Iterator[Finding]:
    for container in effective_containers(context.objects):
        security = container.spec.get("securityContext") or {}
        path = [*container.path, "securityContext"]
        user = security.get("runAsUser", container.pod_security.get("runAsUser"))
        non_root = security.get("runAsNonRoot", container.pod_security.get("runAsNonRoot"))
        if user == 0:
            yield violation(
                "non-root", container.obj, [*path, "runAsUser"], "runs as root (runAsUser: 0)"
            )
        elif not non_root and not (isinstance(user, int) and user > 0):
            yield violation(
                "non-root",
                container.obj,
                [*path, "runAsNonRoot"],
                "may run as root: set runAsNonRoot: true (or a non-zero runAsUser)",
            )
        if security.get("privileged"):
            yield violation("non-root", container.obj, [*path, "privileged"], "runs privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            yield violation(
                "non-root",
                container.obj,
                [*path, "allowPrivilegeEscalation"],
                "allowPrivilegeEscalation must be false",
            )


@policy(
    "requests-within-limits",
    "a request above its limit passes the sync and fails later, when KServe creates the "
    "Deployment and the API server rejects its pod template",
)
def check_requests_within_limits(context: Context) -> Iterator[Finding]:
    for container in effective_containers(context.objects):
        resources = container.spec.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in sorted(set(requests) & set(limits)):
            request, limit = _quantity(requests[name]), _quantity(limits[name])
            if request is not None and limit is not None and request > limit:
                yield violation(
                    "requests-within-limits",
                    container.obj,
                    [*container.path, "resources", "requests", name],
                    f"request {requests[name]} is above limit {limits[name]}",
                )


def _quantity(value: Any):
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None  # not a quantity: the schema check reports it
