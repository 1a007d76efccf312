"""The kind suite's fixtures: pytest-kind's cluster with KServe on it, what the suite prints when
it cannot run (tests/support/not_run.py) and, when a test fails, the cluster's pods, logs and
events."""

from __future__ import annotations

import pytest

from tests.kind.kind_cluster import KServeCluster, configure_pytest_kind, missing_prerequisite
from tests.kind.kind_install import E2E_NAMESPACE, INSTALL_PLAN, ISVC_NAME
from tests.support import not_run

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
        not_run.record(config, f"kind suite not run: {missing}", missing_prerequisite)
        pytest.skip(config.stash[not_run.REASON])

    # pytest-kind's fixture of this name, which this one overrides: requested only past the skip.
    cluster = KServeCluster(request.getfixturevalue("kind_cluster"))
    config.stash[_cluster] = cluster
    cluster.run(INSTALL_PLAN)
    return cluster


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    not_run.fold_skip(item, report, ("kind_cluster",))
    cluster = item.config.stash.get(_cluster, None)
    if report.failed and "kind_cluster" in getattr(item, "fixturenames", ()) and cluster is not None:
        report.sections.append(("kind cluster: pods, logs and events", cluster.diagnostics(E2E_NAMESPACE, ISVC_NAME)))
    return report


def pytest_sessionfinish(session, exitstatus):
    not_run.set_exit_status(session, exitstatus)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    not_run.summary(terminalreporter, exitstatus, config)
