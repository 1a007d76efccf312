"""What the predictor pod gets around its containers: no API token, and time to shut down."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from ..kserve.container_merge import RUNTIME_KINDS
from ..kserve.predictor_labels import predictor_pods
from ..kserve.workloads import pods
from .base import Context, Violation, policy

# Kubernetes' default when a pod sets no terminationGracePeriodSeconds.
DEFAULT_GRACE_PERIOD_S = 30
# The server's defaults (reranker.config.Settings) for a server whose
# settings cannot be read here.
DEFAULT_DRAIN_SECONDS = 5.0
DEFAULT_REQUEST_TIMEOUT = 20.0
# Beyond drain + request timeout: the exit itself (~2 s) and the kubelet's signal delivery.
GRACE_MARGIN_S = 5


@policy(
    "service-account-token",
    "the server calls no Kubernetes API: a mounted service-account token only helps whoever "
    "breaks into the pod; set automountServiceAccountToken: false",
)
def check_service_account_token(context: Context) -> Iterator[Violation]:
    for pod in pods(context.objects):
        if pod.obj.get("kind") in RUNTIME_KINDS:
            continue  # a ServingRuntime has no such field: the InferenceService sets it
        spec = _dig(pod.obj, pod.path)
        if isinstance(spec, dict) and spec.get("automountServiceAccountToken") is not False:
            yield Violation(
                pod.obj,
                [*pod.path, "automountServiceAccountToken"],
                "the service-account token is mounted into the pod: set automountServiceAccountToken: false",
            )


@policy(
    "grace-period",
    "on SIGTERM the server drains for --drain_seconds and finishes requests within "
    "--request_timeout; a shorter terminationGracePeriodSeconds kills requests it accepted",
)
def check_grace_period(context: Context) -> Iterator[Violation]:
    for pod in predictor_pods(context.objects):
        if not pod.container:
            continue  # no runtime of ours in this render: not our server
        drain, timeout = shutdown_settings(pod.container)
        needed = drain + timeout + GRACE_MARGIN_S
        predictor = pod.isvc["spec"]["predictor"]
        grace = predictor.get("terminationGracePeriodSeconds", DEFAULT_GRACE_PERIOD_S)
        if isinstance(grace, int) and grace < needed:
            given = "" if "terminationGracePeriodSeconds" in predictor else " (Kubernetes' default)"
            yield Violation(
                pod.isvc,
                ["spec", "predictor", "terminationGracePeriodSeconds"],
                f"grace period {grace} s{given} is shorter than --drain_seconds {drain:g} + "
                f"--request_timeout {timeout:g} + {GRACE_MARGIN_S} s = {needed:g} s: the kubelet "
                "would kill requests the server accepted",
            )


def shutdown_settings(container: dict[str, Any]) -> tuple[float, float]:
    """(drain_seconds, request_timeout) the server would run with: its own parsing of the args
    and plain env, else the defaults."""
    argv = [str(a) for a in container.get("args") or []]
    environ = {
        e["name"]: str(e.get("value", "")) for e in container.get("env") or [] if "valueFrom" not in e and e.get("name")
    }
    settings: Any = None
    try:
        from reranker.cli import settings_from

        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            settings = settings_from(argv, environ=environ)
    except (ImportError, SystemExit):
        pass  # no server package, or args it refuses (the server-flags policy says which)
    return (
        float(getattr(settings, "drain_seconds", DEFAULT_DRAIN_SECONDS)),
        float(getattr(settings, "request_timeout", DEFAULT_REQUEST_TIMEOUT)),
    )


def _dig(obj: Any, path: list[Any]) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj
