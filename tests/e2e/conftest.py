"""The process-level suites' fixtures: the kind suite's cluster (pytest-kind's, with KServe on it),
the image suite's built image, and what each prints when it cannot run or when a test fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.image_suite import BuiltImage, build_cpu_image, build_gpu_image
from tests.e2e.kind_cluster import KServeCluster, configure_pytest_kind, missing_prerequisite
from tests.e2e.kind_install import E2E_NAMESPACE, INSTALL_PLAN, ISVC_NAME
from tests.support.app import cannot_reach

# A suite that could not run must not end green: 77 is "skipped" in automake's convention.
NOT_RUN_EXIT_STATUS = 77

_not_run = pytest.StashKey[str]()  # "kind suite not run: ...", "image suite not run: ..."
_cluster = pytest.StashKey[KServeCluster]()


def pytest_configure(config):
    # pytest-kind's options (--cluster-name, --kind-image, --keep-cluster...) with this suite's pins.
    configure_pytest_kind(config.option)


@pytest.fixture(scope="session")
def kind_cluster(request) -> KServeCluster:
    """pytest-kind's cluster with cert-manager, the third-party CRDs the components use and KServe
    in Standard mode (kind_install.INSTALL_PLAN); skips, in one line, where the machine cannot run
    one. pytest-kind deletes it after the session (after the failure reports read it) unless
    --keep-cluster."""
    config = request.config
    missing = missing_prerequisite(config.option.kind_image)
    if missing:
        config.stash[_not_run] = f"kind suite not run: {missing}"
        pytest.skip(config.stash[_not_run])

    # pytest-kind's fixture of this name, which this one overrides: requested only past the skip.
    cluster = KServeCluster(request.getfixturevalue("kind_cluster"))
    config.stash[_cluster] = cluster
    cluster.run(INSTALL_PLAN)
    return cluster


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
        request.config.stash[_not_run] = f"image suite not run: {missing}"
        request.config.stash[_not_run_source] = build_image
        # A skip (exit status 77 below), except under CI=true: there a suite that cannot reach
        # its subject fails, with the same one line.
        cannot_reach(request.config.stash[_not_run])
    request.config.stash.setdefault(_built, []).append(built)
    return built


_built = pytest.StashKey[list]()  # the BuiltImages, for the summary lines
_not_run_source = pytest.StashKey[object]()  # the image suite's build function that gave up
SUITE_FIXTURES = ("kind_cluster", "built_image", "built_gpu_image")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    fixtures = getattr(item, "fixturenames", ())
    uses_cluster = "kind_cluster" in fixtures
    uses_suite = any(name in fixtures for name in SUITE_FIXTURES)
    if report.skipped and uses_suite and _not_run in item.config.stash and isinstance(report.longrepr, tuple):
        # Every test of a suite skips for the same reason: report it at its one source, so that
        # the summary folds the skips into one line.
        code = (missing_prerequisite if uses_cluster else item.config.stash[_not_run_source]).__code__
        report.longrepr = (code.co_filename, code.co_firstlineno, report.longrepr[2])
    cluster = item.config.stash.get(_cluster, None)
    if report.failed and uses_cluster and cluster is not None:
        report.sections.append(("kind cluster: pods, logs and events", cluster.diagnostics(E2E_NAMESPACE, ISVC_NAME)))
    return report


def pytest_sessionfinish(session, exitstatus):
    if _not_run in session.config.stash and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = NOT_RUN_EXIT_STATUS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for built in config.stash.get(_built, []):
        terminalreporter.write_line(built.summary())
    if _not_run in config.stash and exitstatus == pytest.ExitCode.OK:
        suite = config.stash[_not_run].split(" not run", 1)[0]
        terminalreporter.write_line(
            f"the {suite} did not run (see the SKIPPED line): exit status {NOT_RUN_EXIT_STATUS}", red=True
        )
