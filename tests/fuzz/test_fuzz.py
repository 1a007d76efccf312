"""``make fuzz`` as a test (marked ``fuzz``: minutes, so not in ``make test``; ``pytest -m fuzz``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

RUN_FUZZ = Path(__file__).with_name("run_fuzz.py")


def test_should_find_nothing_when_fuzzing_a_real_server_against_its_document():
    result = subprocess.run([sys.executable, str(RUN_FUZZ)], capture_output=True, text=True, timeout=540)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "fuzz: passed" in result.stdout
    assert "No issues found" in result.stdout
