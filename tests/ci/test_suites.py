"""The test suites apart: one table of markers (tests/conftest.py's SUITES), each suite's make
target running the suite's folder with its marker, and a run without -m (make test) or with
--fast (make test-fast) selecting without a second list."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import tomllib

from tests.conftest import DEFAULT_MARKEXPR, SUITES, pytest_configure

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "Makefile"


def recipe(target: str) -> str:
    """The recipe lines of ``target:`` in the Makefile, joined."""
    lines = MAKEFILE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"{re.escape(target)}:", line))
    body = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return "\n".join(body)


@pytest.mark.parametrize("marker", sorted(SUITES))
def test_each_suites_make_target_should_run_its_folder_with_its_marker(marker):
    suite = SUITES[marker]
    assert (REPO / suite.folder).is_dir(), suite.folder
    commands = recipe(suite.target)
    assert suite.folder in commands, f"make {suite.target} does not name {suite.folder}"
    if "-m pytest" in commands:
        assert re.search(rf"-m {re.escape(marker)}(\s|$)", commands), f"make {suite.target} does not select -m {marker}"


@pytest.mark.parametrize("marker", sorted(SUITES))
def test_a_suites_marker_should_be_used_in_its_folder_only(marker):
    folder = REPO / SUITES[marker].folder
    mark = re.compile(rf"\bmark\.{re.escape(marker)}\b")
    outside = [
        str(path.relative_to(REPO))
        for path in (REPO / "tests").rglob("*.py")
        if folder not in path.parents and mark.search(path.read_text())
    ]
    assert outside == [], f"marked {marker} outside {SUITES[marker].folder}"


def test_the_markers_should_be_listed_once():
    """pyproject.toml neither registers markers nor deselects by them; the Makefile names no
    marker expression of its own."""
    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert "markers" not in options
    assert not re.search(r"(^|\s)-m\b", options.get("addopts", ""))
    makefile = MAKEFILE.read_text()
    any_marker = "|".join(map(re.escape, SUITES))
    assert not re.search(rf"\bnot ({any_marker})\b", makefile)
    fast = recipe("test-fast")
    assert "--fast" in fast and not re.search(r"\s-m (?!pytest\b)", fast)


def configured(markexpr: str = "", fast: bool = False) -> tuple[str, list[str]]:
    """The marker expression and the registered markers that tests/conftest.py's
    pytest_configure leaves, for a run given -m ``markexpr`` (empty: none) and ``--fast``."""
    lines: list[str] = []
    config = SimpleNamespace(
        option=SimpleNamespace(markexpr=markexpr, fast=fast),
        addinivalue_line=lambda name, line: lines.append(line) if name == "markers" else None,
    )
    pytest_configure(config)
    return config.option.markexpr, lines


def test_a_run_without_m_should_leave_out_every_suite_apart():
    markexpr, markers = configured()
    assert markexpr == DEFAULT_MARKEXPR
    assert set(DEFAULT_MARKEXPR.split(" and ")) == {f"not {marker}" for marker in SUITES}
    assert sorted(line.split(":", 1)[0] for line in markers) == sorted([*SUITES, "slow"])


def test_fast_should_leave_out_the_slow_tests_too_and_m_should_replace_the_default():
    assert configured(fast=True)[0] == f"({DEFAULT_MARKEXPR}) and not slow"
    assert configured("clients")[0] == "clients"
    assert configured("clients", fast=True)[0] == "(clients) and not slow"
