"""python -m depslock {compile,check,verify,audit,sbom}: see the package's docstring."""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import audit, sbom, verify
from .locks import LOCKS, LockError, Unreachable, by_name, compile_all


def check(locks, exclude_newer: str, torch_index: str) -> list[str]:
    """The committed locks that no longer fit their inputs (empty: all current): compiled again,
    keeping their pins where those still satisfy pyproject.toml and locks/*.in, they change."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = compile_all(locks, Path(scratch), exclude_newer, torch_index, seeded=True)
        return [
            lock.name
            for lock, new in zip(locks, fresh)
            if not lock.path.is_file() or not filecmp.cmp(lock.path, new, shallow=False)
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="depslock", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("compile", "write locks/<name>.txt from locks/*.in and pyproject.toml"),
        ("check", "fail when a committed lock differs from a fresh compile"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--exclude-newer", required=True, help="no release uploaded after this time (RFC 3339)")
        sub.add_argument(
            "--torch-index",
            default="",
            help="where the torch CPU wheel comes from (default: pip sources, then the PyTorch index)",
        )
        sub.add_argument("names", nargs="*", help=f"locks (default all: {', '.join(lock.name for lock in LOCKS)})")
    sub = commands.add_parser("verify", help="compare an installed environment with its locks")
    sub.add_argument("--python", required=True, help="the environment's python")
    sub.add_argument("--prune", action="store_true", help="first uninstall what is installed but not locked")
    sub.add_argument("names", nargs="+")
    sub = commands.add_parser("audit", help="pip-audit every lock")
    sub.add_argument("--service", default=os.environ.get("AUDIT_SERVICE", "pypi"), choices=sorted(audit.PROBES))
    sub.add_argument("names", nargs="*")
    sub = commands.add_parser("sbom", help="a CycloneDX SBOM of an image lock's packages")
    sub.add_argument("name")
    sub.add_argument("--output", "-o", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "compile":
            locks = by_name(args.names)
            with tempfile.TemporaryDirectory() as scratch:
                for lock, fresh in zip(locks, compile_all(locks, Path(scratch), args.exclude_newer, args.torch_index)):
                    # An unchanged lock keeps its file (and its time: the environments do not reinstall).
                    same = lock.path.is_file() and filecmp.cmp(lock.path, fresh, shallow=False)
                    if not same:
                        shutil.copyfile(fresh, lock.path)
                    print(
                        f"lock: {'unchanged' if same else 'wrote'} {lock.path.relative_to(lock.path.parents[1])} "
                        f"({', '.join(lock.platforms())}, Python {lock.python})"
                    )
            return 0
        if args.command == "check":
            stale = check(by_name(args.names), args.exclude_newer, args.torch_index)
            if stale:
                print(f"lock: not current: {', '.join(stale)} (make lock rewrites them)")
                return 1
            print("lock: every lock is current")
            return 0
        if args.command == "verify":
            locks = by_name(args.names)
            wanted = verify.expected([lock.path for lock in locks])
            if args.prune:
                verify.prune(args.python, wanted)
            problems = verify.differences(verify.frozen(args.python), wanted)
            for problem in problems:
                print(f"  {problem}")
            names = " + ".join(f"locks/{lock.path.name}" for lock in locks)
            print(f"verify: {args.python}: {'differs from' if problems else 'holds exactly'} {names}")
            return 1 if problems else 0
        if args.command == "audit":
            return audit.run(by_name(args.names or [lock.name for lock in LOCKS]), args.service)
        if args.command == "sbom":
            [lock] = by_name([args.name])
            Path(args.output).write_text(json.dumps(sbom.document(lock), indent=2) + "\n")
            print(f"sbom: {args.output}: {len(sbom.document(lock)['components'])} packages of locks/{lock.path.name}")
            return 0
    except Unreachable as error:
        print(f"lock: cannot run here: {error}")
        return audit.CANNOT_RUN
    except (LockError, audit.AuditError) as error:
        print(f"{args.command}: {error}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
