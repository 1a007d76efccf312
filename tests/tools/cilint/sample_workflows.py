"""Sample workflows for the CI lint tests: a one-job workflow to add steps to, written under a
temporary .github/workflows/, and the commands that lint it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
JOB = "name: sample\non: push\npermissions: {}\njobs:\n  sample:\n    name: sample\n    runs-on: ubuntu-24.04\n"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "NO_COLOR": "1"}
    )


def workflow(root: Path, text: str) -> Path:
    path = root / ".github" / "workflows" / "sample.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cilint(tmp_path: Path, job: str) -> subprocess.CompletedProcess:
    path = workflow(tmp_path, JOB + job)
    return run([str(BIN / "python"), "-m", "cilint", "run-scripts", str(path.relative_to(tmp_path))], tmp_path)
