"""verify.py: an installed environment against its locks, every difference named."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from depslock import verify
from depslock.locks import by_name

REPO = Path(__file__).resolve().parents[3]


def test_setups_environment_should_hold_exactly_the_dev_lock():
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        pytest.skip(f"runs in make setup's .venv (this is {sys.prefix})")
    wanted = verify.expected([by_name(["dev"])[0].path, by_name(["pykustomize"])[0].path])
    assert verify.differences(verify.frozen(sys.executable), wanted) == []


@pytest.mark.parametrize(
    ("installed", "problem"),
    [
        ({"fastapi": "1.0", "extra": "2.0"}, "extra==2.0 is installed but not locked"),
        ({}, "fastapi==1.0 is locked but not installed"),
        ({"fastapi": "1.1"}, "fastapi is 1.1, locked 1.0"),
    ],
)
def test_verify_should_name_each_difference(installed, problem):
    assert verify.differences(installed, {"fastapi": "1.0"}) == [problem]
    assert verify.differences({"fastapi": "1.0", "kserve-reranker": "0.1.0"}, {"fastapi": "1.0"}) == []
