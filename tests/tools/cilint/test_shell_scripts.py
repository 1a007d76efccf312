"""shell_scripts.py: the repository's shell scripts, by name and by shebang, tracked or new."""

from __future__ import annotations

import subprocess

from cilint.shell_scripts import is_shell_script

from tests.tools.cilint.sample_workflows import BIN, run


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


def test_should_tell_a_shell_script_by_its_name_or_its_first_line(tmp_path):
    cases = {
        "a.sh": "",
        "run": "#!/usr/bin/env bash\n",
        "tool": "#! /bin/dash -e\n",
        "py": "#!/usr/bin/env python3\n",
        "later": "\n#!/bin/sh\n",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert {name for name in cases if is_shell_script(tmp_path / name)} == {"a.sh", "run", "tool"}
