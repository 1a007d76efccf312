"""Command line: ``reranker-server`` / ``python -m reranker``.

The parser is built from ``Settings``: each field is a ``--flag`` (KServe's spelling, e.g.
``--model_name``) and an environment variable (``RERANKER_MODEL_NAME``). Start-up problems
(bad flags, no model, a model that is not a reranker) end the process with one line on stderr
and a non-zero status, before the server listens.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from . import __version__
from .config import Settings, env_var

EXIT_USAGE = 2  # bad flags or environment variables
EXIT_STARTUP = 1  # no model, wrong kind of model, engine failed to load


def _field_type(annotation: Any) -> tuple[Any, tuple[str, ...] | None]:
    """(scalar type, choices) of a Settings field, with Optional unwrapped."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    if typing.get_origin(annotation) is typing.Literal:
        return str, tuple(typing.get_args(annotation))
    return annotation, None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reranker-server",
        description="Serve a reranker (cross-encoder or embedding model) over HTTP: the rerank API "
        "at /openai/v1/rerank and its clients' dialects (Cohere/Jina/vLLM /v1/rerank and /v2/rerank, "
        "TEI and Infinity /rerank, NVIDIA NIM /v1/ranking), vLLM's score API, KServe health routes "
        "and Prometheus metrics. Every flag can also be set by the environment "
        "variable shown; a flag wins over its variable. Repeating a flag: the last one wins.",
        allow_abbrev=False,
    )
    for name, field in Settings.model_fields.items():
        kind, choices = _field_type(field.annotation)
        # argparse's own defaults stay None so that unset flags fall back to the variables.
        help_text = f"{field.description} [env: {env_var(name)}; default: {field.default}]"
        if kind is bool:
            parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(
                f"--{name}",
                type=str,
                choices=choices,
                default=None,
                metavar=name.upper() if choices is None else None,
                help=help_text,
            )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def settings_from(argv: Sequence[str] | None, environ: typing.Mapping[str, str] = os.environ) -> Settings:
    """Settings from flags over environment variables over defaults. Exits 2 on bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.api_key is not None:
        # Command lines are visible to every user of the node (ps, /proc): keys belong in the
        # environment, from a Secret.
        print(
            "reranker-server: warning: --api_key on the command line is visible in the process list; "
            "set RERANKER_API_KEY from a Secret instead",
            file=sys.stderr,
        )
    values: dict[str, Any] = {}
    for name in Settings.model_fields:
        flag_value = getattr(args, name)
        if flag_value is not None:
            values[name] = flag_value
        elif env_var(name) in environ:
            values[name] = environ[env_var(name)]
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'.'.join(map(str, e['loc']))} ({env_var(str(e['loc'][0]))}): {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        parser.exit(EXIT_USAGE, f"reranker-server: error: {problems}\n")


def main(argv: Sequence[str] | None = None) -> int:
    settings = settings_from(argv)
    code = run(settings)
    _exit_now(code)
    return code  # not reached


def _exit_now(code: int) -> None:
    """End the process once the server has answered everything it accepted.

    A normal interpreter exit joins the worker threads, and the model thread may still be
    computing a batch for requests that already got their 504: seconds on a CPU, past the
    pod's grace period. Their answers are sent, so nothing is lost by not waiting.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(settings: Settings) -> int:
    from .observability import logs, tracing

    logs.configure(settings.log_level, settings.log_format)
    try:
        tracing.set_up(settings.otlp_traces_endpoint)
    except ValueError as exc:  # an unsupported OTEL_EXPORTER_OTLP_PROTOCOL
        print(f"reranker-server: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return _run(settings)
    finally:
        tracing.shut_down()


def _run(settings: Settings) -> int:
    # Imported here so that --help and flag errors answer fast, without loading torch.
    from .engine.factory import BackendUnavailableError, check_backend, start_engine
    from .engine.model_source import ModelSourceError, resolve_model

    try:
        model = resolve_model(settings)
        check_backend(settings)
    except (ModelSourceError, BackendUnavailableError) as exc:
        print(f"reranker-server: error: {exc}", file=sys.stderr)
        return EXIT_STARTUP
    return _serve(settings, lambda: start_engine(settings, model))


def _serve(settings: Settings, load_engine) -> int:
    from .app import create_app
    from .server import make_server

    failure: list[str] = []
    server = None

    def stop_on_failure(message: str) -> None:
        # A pod whose model cannot load should restart and show why, not sit unready forever.
        failure.append(message)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, load_engine, on_load_failure=stop_on_failure)
    server = make_server(app, settings, on_drain=app.state.server.start_draining)
    server.run()
    if failure:
        print(f"reranker-server: error: could not load the model: {failure[0]}", file=sys.stderr)
        return EXIT_STARTUP
    return 0
