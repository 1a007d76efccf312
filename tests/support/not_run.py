"""A process-level suite that cannot reach its subject (no Docker engine for kind, no container
engine for the image) skips every test for one reason: here that reason is kept, folded into one
SKIPPED line at its source, and turned into exit status 77 so that the run does not end green.
The image and kind suites' conftest.py files call these from their hooks."""

from __future__ import annotations

import pytest

# A suite that could not run must not end green: 77 is "skipped" in automake's convention.
NOT_RUN_EXIT_STATUS = 77

REASON = pytest.StashKey[str]()  # "kind suite not run: ...", "image suite not run: ..."
SOURCE = pytest.StashKey[object]()  # the function that gave up: the skip is reported at its line


def record(config: pytest.Config, reason: str, source) -> None:
    config.stash[REASON] = reason
    config.stash[SOURCE] = source


def fold_skip(item: pytest.Item, report: pytest.TestReport, suite_fixtures: tuple[str, ...]) -> None:
    """Every test of a suite skips for the same reason: report it at its one source, so that the
    summary folds the skips into one line."""
    uses_suite = any(name in getattr(item, "fixturenames", ()) for name in suite_fixtures)
    if report.skipped and uses_suite and REASON in item.config.stash and isinstance(report.longrepr, tuple):
        code = item.config.stash[SOURCE].__code__
        report.longrepr = (code.co_filename, code.co_firstlineno, report.longrepr[2])


def set_exit_status(session: pytest.Session, exitstatus) -> None:
    if REASON in session.config.stash and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = NOT_RUN_EXIT_STATUS


def summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if REASON in config.stash and exitstatus == pytest.ExitCode.OK:
        suite = config.stash[REASON].split(" not run", 1)[0]
        terminalreporter.write_line(
            f"the {suite} did not run (see the SKIPPED line): exit status {NOT_RUN_EXIT_STATUS}", red=True
        )
