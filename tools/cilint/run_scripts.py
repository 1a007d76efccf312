"""The `run:` scripts of a GitHub Actions workflow, each with the shell it runs in and where it
sits in the file (so a finding points at its line)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

# ${{ ... }} is expanded by the runner before the shell sees the script; actionlint puts
# underscores of the same length in its place (spaces can break the syntax: `if ${{ x }}; then`).
EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.DOTALL)


@dataclass(frozen=True)
class RunScript:
    job: str
    step: int  # 1-based, as the Actions log counts them
    shell: str  # bash or sh: the shells shellcheck knows
    source: str  # expressions replaced
    line: int  # 1-based line in the workflow of the script's first line
    column: int  # 1-based column of that line's first character
    style: str | None  # the YAML scalar's: "|" literal, ">" folded, quotes, None plain

    def position(self, script_line: int, script_column: int) -> tuple[int, int] | None:
        """The file position of a position in the script, where the file holds the script line
        for line: a `|` block, or a one-line plain or quoted value (None elsewhere: a folded
        block or a value over several lines, which YAML joins)."""
        if self.style == "|":
            return self.line + script_line - 1, self.column + script_column - 1
        if self.style != ">" and script_line == 1 and "\n" not in self.source.rstrip("\n"):
            return self.line, self.column + script_column - 1
        return None


def sanitize_expressions(script: str) -> str:
    return EXPRESSION.sub(lambda match: "_" * len(match.group()), script)


def _get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((value for k, value in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _default_shell(node: yaml.Node | None) -> str | None:
    return _scalar(_get(_get(_get(node, "defaults"), "run"), "shell"))


def _runner_labels(job: yaml.Node) -> list[str]:
    runs_on = _get(job, "runs-on")
    if isinstance(runs_on, yaml.MappingNode):  # {group: ..., labels: ...}
        runs_on = _get(runs_on, "labels")
    if isinstance(runs_on, yaml.SequenceNode):
        return [item.value for item in runs_on.value if isinstance(item, yaml.ScalarNode)]
    return [runs_on.value] if isinstance(runs_on, yaml.ScalarNode) else []


def shellcheck_shell(shell: str) -> str | None:
    """The shell shellcheck checks a step's `shell:` as (None: not a shell it knows, such as pwsh
    or python). `bash {0}` and `sh -e {0}` are custom commands of those shells."""
    name = shell.split()[0] if shell.strip() else ""
    return name if name in ("bash", "sh") else None


def _literal_block_start(node: yaml.ScalarNode, lines: list[str]) -> tuple[int, int]:
    """1-based (line, column) of a `|` block's first content line: the line after its indicator
    (blank lines the block opens with are in the script too), at the block's indentation, which
    its first non-blank line shows."""
    first = node.start_mark.line + 1  # 0-based index of the line after `run: |`
    while first < len(lines) and not lines[first].strip():
        first += 1
    text = lines[first] if first < len(lines) else ""
    return node.start_mark.line + 2, len(text) - len(text.lstrip(" ")) + 1


def workflow_run_scripts(path: Path) -> list[RunScript]:
    """Every `run:` script of the workflow at path that runs in bash or sh, with actionlint's
    choice of shell: the step's `shell:`, else the job's defaults, else the workflow's, else
    PowerShell on a Windows runner and bash elsewhere."""
    text = path.read_text()
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    lines = text.splitlines()
    workflow_shell = _default_shell(root)
    scripts: list[RunScript] = []
    jobs = _get(root, "jobs")
    for job_key, job in jobs.value if isinstance(jobs, yaml.MappingNode) else []:
        windows = any(
            label.lower() == "windows" or label.lower().startswith("windows-") for label in _runner_labels(job)
        )
        job_shell = _default_shell(job) or workflow_shell or ("pwsh" if windows else "bash")
        steps = _get(job, "steps")
        for number, step in enumerate(steps.value if isinstance(steps, yaml.SequenceNode) else [], start=1):
            run = _get(step, "run")
            if not isinstance(run, yaml.ScalarNode):
                continue
            shell = shellcheck_shell(_scalar(_get(step, "shell")) or job_shell)
            if shell is None:
                continue
            if run.style == "|":
                line, column = _literal_block_start(run, lines)
            else:
                line, column = run.start_mark.line + 1, run.start_mark.column + 1 + (run.style in ("'", '"'))
            scripts.append(
                RunScript(
                    job=job_key.value,
                    step=number,
                    shell=shell,
                    source=sanitize_expressions(run.value),
                    line=line,
                    column=column,
                    style=run.style,
                )
            )
    return scripts
