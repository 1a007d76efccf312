"""The image suites' fixtures: the CPU and GPU images built from serving/Dockerfile, and what the
suite prints when it cannot run (tests/support/not_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.image.image_suite import BuiltImage, build_cpu_image, build_gpu_image
from tests.support import not_run
from tests.support.app import cannot_reach

_built = pytest.StashKey[list]()  # the BuiltImages, for the summary lines


@pytest.fixture(scope="session")
def built_image(request, tmp_path_factory) -> BuiltImage:
    """The CPU image, built from serving/Dockerfile with the engine at hand; skips, in one line
    naming all that is missing, where it cannot be built or run (under CI=true: fails)."""
    return _suite_image(request, build_cpu_image, tmp_path_factory.mktemp("image"))


@pytest.fixture(scope="session")
def built_gpu_image(request, tmp_path_factory) -> BuiltImage:
    """The GPU (vLLM) image, built as built_image is; skips or fails the same way."""
    return _suite_image(request, build_gpu_image, tmp_path_factory.mktemp("image-gpu"))


def _suite_image(request, build_image, workdir: Path) -> BuiltImage:
    built, missing = build_image(workdir)
    if built is None:
        not_run.record(request.config, f"image suite not run: {missing}", build_image)
        # A skip (exit status 77), except under CI=true: there a suite that cannot reach its
        # subject fails, with the same one line.
        cannot_reach(request.config.stash[not_run.REASON])
    request.config.stash.setdefault(_built, []).append(built)
    return built


@pytest.fixture
def played_pods():
    """Start pods; remove each one, with its volumes, even when the test fails."""
    pods = []
    yield pods
    for pod in pods:
        pod.down()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    not_run.fold_skip(item, report, ("built_image", "built_gpu_image"))
    return report


def pytest_sessionfinish(session, exitstatus):
    not_run.set_exit_status(session, exitstatus)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for built in config.stash.get(_built, []):
        terminalreporter.write_line(built.summary())
    not_run.summary(terminalreporter, exitstatus, config)
