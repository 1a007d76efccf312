"""The server's flags in the manifests are flags the server accepts, with values it accepts.

The flags come from the server itself (``reranker.cli.build_parser`` and its ``Settings``),
never from a copied list, so a renamed flag breaks validation instead of a rollout.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

from ..kserve.container_merge import KSERVE_CONTAINER, RUNTIME_KINDS, runtime_container, runtimes_by_name
from .base import Context, Violation, policy


@policy(
    "server-flags",
    "KServe passes these args to the reranker server; a flag it does not know stops the pod at start-up",
)
def check_server_flags(context: Context) -> Iterator[Violation]:
    known = server_flags()
    runtimes = runtimes_by_name(context.objects)
    used: set[str] = set()
    for obj in context.objects:
        if obj.get("kind") not in RUNTIME_KINDS:
            continue
        for index, container in enumerate((obj.get("spec") or {}).get("containers") or []):
            if container.get("name") == KSERVE_CONTAINER:
                path = ["spec", "containers", index, "args"]
                yield from _unknown_flags(obj, path, container.get("args") or [], known)
    for obj in context.objects:
        model = ((obj.get("spec") or {}).get("predictor") or {}).get("model")
        if obj.get("kind") != "InferenceService" or not isinstance(model, dict):
            continue
        runtime = runtimes.get(model.get("runtime") or "")
        if runtime is None:
            continue  # another runtime serves it: its flags are not ours to check
        used.add(runtime["metadata"]["name"])
        path = ["spec", "predictor", "model", "args"]
        args = model.get("args") or []
        unknown = list(_unknown_flags(obj, path, args, known))
        yield from unknown
        # KServe appends the InferenceService's args to the runtime's: check them together.
        argv = [*(runtime_container(runtime).get("args") or []), *args]
        if not unknown:
            yield from _rejected_values(obj, path, argv)
    for name, runtime in runtimes.items():
        containers = (runtime.get("spec") or {}).get("containers") or []
        for index, container in enumerate(containers):
            if name not in used and container.get("name") == KSERVE_CONTAINER:
                path = ["spec", "containers", index, "args"]
                yield from _rejected_values(runtime, path, container.get("args") or [])


def server_flags() -> set[str]:
    """Every option string of the server's parser (``--dtype``, ``--no-enforce_eager`` ...)."""
    from reranker.cli import build_parser

    return {option for action in build_parser()._actions for option in action.option_strings}


def _unknown_flags(obj: dict[str, Any], path: list[Any], args: list[Any], known: set[str]):
    for index, arg in enumerate(args):
        flag = str(arg).split("=", 1)[0]
        if flag.startswith("--") and flag not in known:
            yield Violation(
                obj,
                [*path, index],
                f"the reranker server has no flag {flag} (see reranker-server --help)",
            )


def _rejected_values(obj: dict[str, Any], path: list[Any], argv: list[Any]) -> Iterator[Violation]:
    """Run the server's own flag parsing and settings validation on argv."""
    from reranker.cli import settings_from

    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            settings_from([str(a) for a in argv], environ={})
    except SystemExit as exit_:
        if exit_.code:
            message = stderr.getvalue().strip().splitlines()[-1:] or ["rejected"]
            yield Violation(obj, path, f"the server rejects these args: {message[0]}")
