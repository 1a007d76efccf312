"""The process-level suites' fixtures: the kind suite's cluster and its --keep-cluster option,
the image suite's built image, and what each prints when it cannot run or when a test fails."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # the suites' helper modules

from image_suite import BuiltImage, build_cpu_image  # noqa: E402
from kind_cluster import (  # noqa: E402
    CLUSTER_NAME,
    E2E_NAMESPACE,
    ISVC_NAME,
    KindCluster,
    cluster_exists,
    missing_prerequisite,
)

# A suite that could not run must not end green: 77 is "skipped" in automake's convention.
NOT_RUN_EXIT_STATUS = 77

_not_run = pytest.StashKey[str]()  # "kind suite not run: ...", "image suite not run: ..."
_cluster = pytest.StashKey[KindCluster]()


def pytest_addoption(parser):
    parser.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help=f"kind suite: reuse the kind cluster {CLUSTER_NAME} when it exists and leave it running "
        f"(delete it with: kind delete cluster --name {CLUSTER_NAME})",
    )


@pytest.fixture(scope="session")
def kind_cluster(request, tmp_path_factory) -> KindCluster:
    """A kind cluster with cert-manager and KServe in Standard mode; skips, in one line, where
    the machine cannot run one."""
    config = request.config
    missing = missing_prerequisite()
    if missing:
        config.stash[_not_run] = f"kind suite not run: {missing}"
        pytest.skip(config.stash[_not_run])

    keep = config.getoption("--keep-cluster", default=False)
    cluster = KindCluster(CLUSTER_NAME, tmp_path_factory.mktemp("kind") / "kubeconfig")
    if not keep and cluster_exists(CLUSTER_NAME):
        cluster.delete()  # a leftover from an interrupted run: start clean
    cluster.create()
    config.stash[_cluster] = cluster
    if not keep:
        # A finalizer, not try/finally: failure reports still read the cluster before it goes.
        request.addfinalizer(cluster.delete)
    cluster.install_cert_manager()
    cluster.install_kserve_standard()
    return cluster


@pytest.fixture(scope="session")
def built_image(request, tmp_path_factory) -> BuiltImage:
    """The CPU image, built from serving/Dockerfile with the engine at hand; skips, in one line,
    where no engine can build or run it."""
    built, missing = build_cpu_image(tmp_path_factory.mktemp("image"))
    if built is None:
        request.config.stash[_not_run] = f"image suite not run: {missing}"
        pytest.skip(request.config.stash[_not_run])
    request.config.stash[_built] = built
    return built


_built = pytest.StashKey[BuiltImage]()
SUITE_FIXTURES = ("kind_cluster", "built_image")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    fixtures = getattr(item, "fixturenames", ())
    uses_cluster = "kind_cluster" in fixtures
    uses_suite = any(name in fixtures for name in SUITE_FIXTURES)
    if report.skipped and uses_suite and _not_run in item.config.stash and isinstance(report.longrepr, tuple):
        # Every test of a suite skips for the same reason: report it at its one source, so that
        # the summary folds the skips into one line.
        code = (missing_prerequisite if uses_cluster else build_cpu_image).__code__
        report.longrepr = (code.co_filename, code.co_firstlineno, report.longrepr[2])
    cluster = item.config.stash.get(_cluster, None)
    if report.failed and uses_cluster and cluster is not None:
        report.sections.append(("kind cluster: pods, logs and events", cluster.diagnostics(E2E_NAMESPACE, ISVC_NAME)))
    return report


def pytest_sessionfinish(session, exitstatus):
    if _not_run in session.config.stash and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = NOT_RUN_EXIT_STATUS


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    built = config.stash.get(_built, None)
    if built is not None:
        terminalreporter.write_line(built.summary())
    if _not_run in config.stash and exitstatus == pytest.ExitCode.OK:
        suite = config.stash[_not_run].split(" not run", 1)[0]
        terminalreporter.write_line(
            f"the {suite} did not run (see the SKIPPED line): exit status {NOT_RUN_EXIT_STATUS}", red=True
        )
