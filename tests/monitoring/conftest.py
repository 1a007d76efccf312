"""Fixtures of the monitoring suite: the component rendered once, and the Prometheus binaries
(Debian's prometheus package: make monitoring-tools)."""

from __future__ import annotations

import shutil

import pytest

from tests.support import monitoring
from tests.support.app import cannot_reach


@pytest.fixture(scope="session")
def monitoring_objects():
    return monitoring.render_monitoring()


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        cannot_reach(f"{name} is not installed: `sudo make monitoring-tools` installs Debian's prometheus")
    return path


@pytest.fixture(scope="session")
def promtool() -> str:
    return _binary("promtool")


@pytest.fixture(scope="session")
def prometheus() -> str:
    return _binary("prometheus")
