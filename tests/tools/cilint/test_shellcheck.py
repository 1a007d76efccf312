"""shellcheck.py: shellcheck over one run: script as actionlint runs it (the same excluded checks,
the runner's prologue)."""

from __future__ import annotations

import pytest
from cilint.run_scripts import RunScript
from cilint.shellcheck import ShellcheckError, check

from tests.tools.cilint.sample_workflows import BIN, cilint


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


def script(source: str, style: str | None) -> RunScript:
    return RunScript(job="j", step=1, shell="bash", source=source, line=10, column=14, style=style)


def test_should_place_a_finding_at_its_line_in_the_file_or_else_name_the_scripts_own(tmp_path):
    shellcheck = str(BIN / "shellcheck")
    (literal,) = check(script("echo ok\nrm -rf $DIR\n", "|"), shellcheck)
    assert (literal.line, literal.column, literal.code) == (11, 21, "SC2086")
    (folded,) = check(script("echo ok\nrm -rf $DIR\n", ">"), shellcheck)
    assert (folded.line, folded.column) == (10, 14)
    assert folded.message.endswith("(script 2:8)")
    assert check(script('echo "$HOME"\n', "|"), shellcheck) == []


def test_a_shellcheck_that_cannot_run_to_a_verdict_should_say_so(tmp_path):
    broken = tmp_path / "shellcheck"
    broken.write_text("#!/bin/sh\necho 'bad option' >&2\nexit 3\n")
    broken.chmod(0o755)
    with pytest.raises(ShellcheckError, match="exited 3: bad option"):
        check(script("echo hi\n", "|"), str(broken))
