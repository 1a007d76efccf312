"""shellcheck over one `run:` script, as actionlint 1.7.7 runs it (rule_shellcheck.go)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from .run_scripts import RunScript

# The checks actionlint leaves out of a run: script, each for a reason that holds for a fragment
# whose expressions became underscores; the same list keeps this pass and actionlint's in step.
EXCLUDED = {
    "SC1091": "a sourced file that exists on the runner, not in this checkout",
    "SC2043": "a loop over one word: an expression's placeholder where a list was",
    "SC2050": "a comparison of constants: an expression's placeholder on one side",
    "SC2154": "a variable never assigned: set by the step's or job's env:, which the script does not show",
    "SC2157": "a string that is never empty: an expression's placeholder",
    "SC2194": "a constant word: an expression's placeholder, as in `if ___; then`",
}
# What the runner runs before the script (bash -e {0} with pipefail, sh -e {0}): shellcheck then
# knows that a failing command ends it. Findings count lines from the script's first line.
PROLOGUE = {"bash": "set -eo pipefail\n", "sh": "set -e\n"}


@dataclass(frozen=True)
class Finding:
    line: int  # in the workflow file: the finding's, or the run: value's where YAML joined lines
    column: int
    code: str  # SC2086
    level: str  # error, warning, info, style
    message: str  # where line is the value's, it ends with the script's own line:column


class ShellcheckError(RuntimeError):
    """shellcheck did not run to a verdict (a bad option, an unreadable input)."""


def check(script: RunScript, shellcheck: str) -> list[Finding]:
    completed = subprocess.run(
        [
            shellcheck,
            "--norc",
            "--format=json1",
            "--external-sources",
            f"--shell={script.shell}",
            f"--exclude={','.join(EXCLUDED)}",
            "-",
        ],
        input=PROLOGUE[script.shell] + script.source + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode not in (0, 1):  # 1: findings
        raise ShellcheckError(f"{shellcheck} exited {completed.returncode}: {completed.stderr.strip()}")
    findings = []
    for comment in json.loads(completed.stdout)["comments"]:
        script_line, script_column = comment["line"] - 1, comment["column"]  # less the prologue's line
        position = script.position(script_line, script_column)
        message = comment["message"]
        if position is None:
            position, message = (script.line, script.column), f"{message} (script {script_line}:{script_column})"
        findings.append(Finding(*position, f"SC{comment['code']}", comment["level"], message))
    return findings
