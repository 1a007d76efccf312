"""The repository's shell scripts: what git tracks or would add (not what it ignores), named
``*.sh`` or starting with a shebang that names sh, bash, dash or ksh (``.ci/run``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# #!/bin/bash, #!/bin/sh -e, #!/usr/bin/env bash, #!/usr/bin/env -S bash -eu
SHEBANG = re.compile(rb"#!\s*(?:/usr/bin/env\s+(?:-S\s+)?)?(?:\S*/)?(?:ba|da|k)?sh(?:\s|$)")


def is_shell_script(path: Path) -> bool:
    if path.suffix == ".sh":
        return True
    with path.open("rb") as file:
        return bool(SHEBANG.match(file.readline(256)))


def shell_scripts(root: Path) -> list[str]:
    """Paths relative to root, sorted. New files count too: a script is linted before it is added."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout
    names = sorted({name for name in listed.decode().split("\0") if name})
    # A tracked file deleted from the work tree is still listed; a symlink is linted where it points.
    return [
        name
        for name in names
        if (root / name).is_file() and not (root / name).is_symlink() and is_shell_script(root / name)
    ]
