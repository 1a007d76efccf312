"""run_scripts.py: the run: scripts of a workflow, each in the shell actionlint gives it and at
its place in the file."""

from __future__ import annotations

from cilint.run_scripts import shellcheck_shell, workflow_run_scripts

from tests.tools.cilint.sample_workflows import BIN, JOB, cilint, run, workflow


def test_cilint_should_report_an_unquoted_variable_at_its_line(tmp_path):
    checked = cilint(
        tmp_path, '    steps:\n      - run: |\n          echo "${{ github.sha }}"\n          rm -rf $DIR/build\n'
    )
    assert checked.returncode == 1
    # Line 11 of the file, column 18: where $DIR stands.
    assert ".github/workflows/sample.yml:11:18: SC2086 (info): Double quote to prevent globbing" in checked.stdout
    assert "[job sample, step 1]" in checked.stdout


def test_cilint_should_check_a_bash_step_on_a_windows_runner_only_where_it_asks_for_bash(tmp_path):
    job = "    steps:\n      - run: echo $A\n      - shell: bash\n        run: echo $B\n"
    path = workflow(tmp_path, JOB.replace("ubuntu-24.04", "windows-2022") + job)
    checked = run([str(BIN / "python"), "-m", "cilint", "run-scripts", str(path)], tmp_path)
    assert checked.returncode == 1 and "[job sample, step 2]" in checked.stdout and "step 1]" not in checked.stdout


def test_should_give_each_step_actionlints_shell_and_the_scripts_place(tmp_path):
    path = workflow(
        tmp_path,
        "name: s\non: push\ndefaults:\n  run:\n    shell: sh\njobs:\n"
        "  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.sha }}\n"
        "      - shell: bash\n        run: |\n\n          echo one\n"
        "      - shell: pwsh\n        run: Write-Output x\n"
        "  b:\n    runs-on: [self-hosted, windows-2022]\n    defaults:\n      run:\n        shell: bash -e {0}\n"
        "    steps:\n      - uses: actions/checkout@v4\n      - run: 'echo two'\n",
    )
    scripts = workflow_run_scripts(path)
    assert [(s.job, s.step, s.shell, s.style) for s in scripts] == [
        ("a", 1, "sh", None),  # the workflow's default
        ("a", 2, "bash", "|"),
        ("b", 2, "bash", "'"),  # the job's default, a custom bash command
    ]
    assert scripts[0].source == "echo " + "_" * len("${{ github.sha }}")
    # A | block starts on the line after its indicator, blank lines included; a quoted value
    # after its quote.
    assert (scripts[1].line, scripts[1].column) == (13, 11)
    assert scripts[1].position(2, 6) == (14, 16)  # "one" of "echo one"
    assert (scripts[2].line, scripts[2].column) == (24, 15)


def test_should_know_the_shells_shellcheck_checks():
    assert [shellcheck_shell(s) for s in ("bash", "sh -e {0}", "bash --noprofile {0}", "pwsh", "python", "")] == [
        "bash",
        "sh",
        "bash",
        None,
        None,
        None,
    ]
