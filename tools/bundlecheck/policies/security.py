"""Container hardening and resource sanity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubernetes.utils import parse_quantity

from ..kserve.workloads import effective_containers, raw_containers
from .base import Context, Violation, policy

# The server's API key: only ever from a Secret (reranker.config, api_key).
API_KEY_ENV = "RERANKER_API_KEY"
API_KEY_FLAGS = ("--api_key", "--api-key")
SECCOMP_CONFINED = {"RuntimeDefault", "Localhost"}


@policy(
    "non-root",
    "a container running as root, or able to gain privileges, turns a server bug into a node compromise",
)
def check_non_root(context: Context) -> Iterator[Violation]:
    for container in effective_containers(context.objects):
        security = container.spec.get("securityContext") or {}
        path = [*container.path, "securityContext"]
        user = security.get("runAsUser", container.pod_security.get("runAsUser"))
        non_root = security.get("runAsNonRoot", container.pod_security.get("runAsNonRoot"))
        if user == 0:
            yield Violation(container.obj, [*path, "runAsUser"], "runs as root (runAsUser: 0)")
        elif not non_root and not (isinstance(user, int) and user > 0):
            yield Violation(
                container.obj,
                [*path, "runAsNonRoot"],
                "may run as root: set runAsNonRoot: true (or a non-zero runAsUser)",
            )
        if security.get("privileged"):
            yield Violation(container.obj, [*path, "privileged"], "runs privileged")
        if security.get("allowPrivilegeEscalation") is not False:
            yield Violation(
                container.obj,
                [*path, "allowPrivilegeEscalation"],
                "allowPrivilegeEscalation must be false",
            )


@policy(
    "requests-within-limits",
    "a request above its limit passes the sync and fails later, when KServe creates the "
    "Deployment and the API server rejects its pod template",
)
def check_requests_within_limits(context: Context) -> Iterator[Violation]:
    for container in effective_containers(context.objects):
        resources = container.spec.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for name in sorted(set(requests) & set(limits)):
            request, limit = _quantity(requests[name]), _quantity(limits[name])
            if request is not None and limit is not None and request > limit:
                yield Violation(
                    container.obj,
                    [*container.path, "resources", "requests", name],
                    f"request {requests[name]} is above limit {limits[name]}",
                )


def _quantity(value: Any):
    try:
        return parse_quantity(value)
    except (ValueError, TypeError):
        return None  # not a quantity: the schema check reports it


@policy(
    "container-hardening",
    "every container, the storage initializer as much as the server: read-only root, a "
    "non-zero runAsUser, all capabilities dropped, a seccomp profile",
)
def check_container_hardening(context: Context) -> Iterator[Violation]:
    for container in effective_containers(context.objects):
        security = container.spec.get("securityContext") or {}
        pod_security = container.pod_security
        path = [*container.path, "securityContext"]
        if security.get("readOnlyRootFilesystem") is not True:
            yield Violation(
                container.obj,
                [*path, "readOnlyRootFilesystem"],
                "the root filesystem is writable: set readOnlyRootFilesystem: true (and give "
                "what must be written a volume)",
            )
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        if not (isinstance(user, int) and user > 0):
            yield Violation(
                container.obj,
                [*path, "runAsUser"],
                "no non-zero runAsUser: the image decides the user (runAsNonRoot alone refuses "
                "an image whose USER is a name)",
            )
        if "ALL" not in ((security.get("capabilities") or {}).get("drop") or []):
            yield Violation(
                container.obj,
                [*path, "capabilities", "drop"],
                "capabilities are not all dropped: set capabilities.drop: [ALL]",
            )
        seccomp = security.get("seccompProfile") or pod_security.get("seccompProfile") or {}
        if seccomp.get("type") not in SECCOMP_CONFINED:
            yield Violation(
                container.obj,
                [*path, "seccompProfile"],
                "no seccomp profile: set seccompProfile.type: RuntimeDefault",
            )


@policy(
    "api-key-secret",
    f"the API key must come from a Secret through {API_KEY_ENV}: a literal value or a "
    "--api_key arg puts it in Git and in every pod description",
)
def check_api_key_secret(context: Context) -> Iterator[Violation]:
    for container in raw_containers(context.objects):
        for index, entry in enumerate(container.spec.get("env") or []):
            if not isinstance(entry, dict) or entry.get("name") != API_KEY_ENV:
                continue
            path = [*container.path, "env", index]
            if "value" in entry:
                yield Violation(
                    container.obj,
                    [*path, "value"],
                    f"{API_KEY_ENV} is a literal value: take it from a Secret "
                    "(valueFrom.secretKeyRef; components/api-key)",
                )
            elif not (entry.get("valueFrom") or {}).get("secretKeyRef"):
                yield Violation(
                    container.obj,
                    [*path, "valueFrom"],
                    f"{API_KEY_ENV} does not come from a Secret: use valueFrom.secretKeyRef",
                )
        for key in ("command", "args"):
            for index, arg in enumerate(container.spec.get(key) or []):
                if str(arg).split("=", 1)[0] in API_KEY_FLAGS:
                    yield Violation(
                        container.obj,
                        [*container.path, key, index],
                        f"the API key is on the command line: set {API_KEY_ENV} from a Secret "
                        "instead (components/api-key)",
                    )
