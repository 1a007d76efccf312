"""The checks that say a rendered overlay and the server agree, each raising ContractViolation.

Static checks need no model and no GPU: the merged command line goes through the server's own
parser (``reranker.cli.settings_from``), and each probe path through the server's own routes.
The running check (the probes against a live process) is in local_pod.wait_for_probe.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import tomllib
from starlette.routing import Match

from bundlecheck.kserve.predictor_container import PROBES
from reranker.cli import settings_from
from reranker.config import Settings
from tests.support.local_pod import MODEL_MOUNT, REPO, LocalPod

SERVER_ENTRY_POINT = "reranker.cli:main"


class ContractViolation(AssertionError):
    """The manifests ask the server for something it does not do."""


def check_command_line(pod: LocalPod, model_name: str) -> Settings:
    """The pod's argv and env parse with the server's own parser, into settings that serve
    ``model_name`` from the storage initializer's directory on the container's port."""
    program, *args = pod.argv
    if Path(program).name not in server_console_scripts():
        raise ContractViolation(f"the container runs {program!r}, not the server ({sorted(server_console_scripts())})")
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            settings = settings_from(args, environ=pod.env)
    except SystemExit:
        problem = stderr.getvalue().strip().splitlines()[-1]
        raise ContractViolation(f"the server rejects the command line {args}: {problem}") from None
    if settings.http_port != pod.container.serving_port():
        raise ContractViolation(
            f"the server listens on {settings.http_port}, the container declares {pod.container.serving_port()}"
        )
    if settings.model_id is not None or settings.model_dir != MODEL_MOUNT:
        raise ContractViolation(
            f"the server loads {settings.model_id or settings.model_dir}, not {MODEL_MOUNT} (the storage initializer's)"
        )
    if model_name not in settings.served_model_names:
        raise ContractViolation(f"the server names its model {settings.model_name!r}; clients send {model_name!r}")
    return settings


def check_probes_routed(pod: LocalPod, settings: Settings) -> None:
    """Every httpGet probe targets the server's port and a GET route the server has."""
    from reranker.app import create_app

    app = create_app(settings, load_engine=lambda: None)  # routes only: nothing starts or loads
    for kind in PROBES:
        probe = pod.container.http_probe(kind)
        if probe is None:
            continue
        path, port = probe
        if port != settings.http_port:
            raise ContractViolation(f"{kind} probes port {port}; the server listens on {settings.http_port}")
        scope = {"type": "http", "method": "GET", "path": path.split("?")[0]}
        if not any(route.matches(scope)[0] is Match.FULL for route in app.routes):
            raise ContractViolation(f"{kind} probes {path}: the server has no GET route there")


def server_console_scripts() -> set[str]:
    """The console scripts pyproject.toml installs for the server (the image's ENTRYPOINT)."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    return {name for name, target in scripts.items() if target == SERVER_ENTRY_POINT}
