"""Where the schema-checking tests get their schemas (tests/schema_sources.py, the ``schema_dirs``
fixture): the environment first, then the validator's pinned downloads, then a one-line skip,
and under CI=true one line that stops the run instead."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import yaml

from bundlecheck.schemas import catalog, crds
from tests.support.schema_sources import (
    CATALOG_ENV,
    CATALOG_KINDS,
    KSERVE_ENV,
    SchemaDirs,
    crd_schema_dir,
    kserve_crd_dir,
)
from tests.tools.bundlecheck.schemas.sample_crds import TINY_CRD

REPO = Path(__file__).resolve().parents[3]


class FakeNetwork:
    """Answers the pinned URLs with tiny schemas, or fails as offline; records what was asked."""

    def __init__(self, online: bool = True):
        self.online = online
        self.urls: list[str] = []

    def __call__(self, url: str) -> str:
        self.urls.append(url)
        if not self.online:
            raise urllib.error.URLError(OSError("network unreachable"))
        return yaml.safe_dump(TINY_CRD) if "/kserve/kserve/" in url else '{"type": "object"}'


@pytest.fixture()
def env_dirs(tmp_path: Path) -> dict[str, str]:
    kserve = tmp_path / "my-kserve-crds"
    kserve.mkdir()
    (kserve / "isvc.yaml").write_text(yaml.safe_dump(TINY_CRD))
    schemas = tmp_path / "my-crd-schemas"
    schemas.mkdir()
    return {KSERVE_ENV: str(kserve), CATALOG_ENV: str(schemas)}


def test_the_environment_wins_over_the_download(env_dirs: dict[str, str], tmp_path: Path) -> None:
    network = FakeNetwork()
    dirs = SchemaDirs(env=env_dirs, cache_dir=tmp_path / "cache", fetch=network)

    assert dirs.kserve_crds == Path(env_dirs[KSERVE_ENV])
    assert dirs.crd_schemas == Path(env_dirs[CATALOG_ENV])
    assert network.urls == []
    assert dirs.problem_before_the_run() is None


def test_without_the_environment_the_validators_pinned_downloads_are_cached_once(
    tmp_path: Path,
) -> None:
    network = FakeNetwork()
    cache = tmp_path / "cache"

    kserve = kserve_crd_dir({}, cache, network)
    schemas = crd_schema_dir({}, cache, network)
    asked = list(network.urls)
    again = (kserve_crd_dir({}, cache, network), crd_schema_dir({}, cache, network))

    assert kserve == cache / f"kserve-{crds.KSERVE_VERSION}"
    assert crds.from_directory(kserve).lookup("serving.kserve.io/v1beta1", "InferenceService")
    assert schemas == cache / f"crds-catalog-{catalog.CATALOG_COMMIT}"
    for api_version, kind in CATALOG_KINDS:
        assert catalog.DirectoryCatalog(schemas).lookup(api_version, kind) == {"type": "object"}
    assert len(asked) == len(crds.KSERVE_CRD_PATHS) + len(CATALOG_KINDS)
    assert all(url.startswith("https://raw.githubusercontent.com/") for url in asked)
    assert again == (kserve, schemas)
    assert network.urls == asked  # the second time from the cache


def test_offline_without_the_environment_skips_with_one_line_naming_the_variable(
    tmp_path: Path,
) -> None:
    network = FakeNetwork(online=False)
    dirs = SchemaDirs(env={}, cache_dir=tmp_path, fetch=network)

    with pytest.raises(pytest.skip.Exception) as kserve_skip:
        _ = dirs.kserve_crds
    with pytest.raises(pytest.skip.Exception) as catalog_skip:
        _ = dirs.crd_schemas
    with pytest.raises(pytest.skip.Exception) as both_skip:
        _ = dirs.both

    assert str(kserve_skip.value).startswith(f"KServe CRDs not found: set {KSERVE_ENV} to a directory of KServe CRDs")
    assert str(catalog_skip.value).startswith(f"CRD schemas not found: set {CATALOG_ENV} to")
    assert "network unreachable" in str(kserve_skip.value)
    assert str(both_skip.value) == f"{kserve_skip.value}; {catalog_skip.value}"
    assert "\n" not in str(both_skip.value)
    assert len(network.urls) == 2  # one failed try each, not one per test
    assert dirs.problem_before_the_run() is None  # outside CI: the tests skip, the run goes on


def test_under_ci_missing_schemas_stop_the_run_with_one_line(tmp_path: Path) -> None:
    dirs = SchemaDirs(env={"CI": "true"}, cache_dir=tmp_path, fetch=FakeNetwork(online=False))

    problem = dirs.problem_before_the_run()

    assert problem is not None and "\n" not in problem
    assert problem.startswith("CI=true: ")
    assert f"set {KSERVE_ENV}" in problem and f"set {CATALOG_ENV}" in problem
    with pytest.raises(pytest.fail.Exception):
        _ = dirs.kserve_crds


def test_under_ci_the_environment_is_enough(env_dirs: dict[str, str], tmp_path: Path) -> None:
    network = FakeNetwork(online=False)
    dirs = SchemaDirs(env={"CI": "true", **env_dirs}, cache_dir=tmp_path, fetch=network)

    assert dirs.problem_before_the_run() is None
    assert dirs.kserve_crds == Path(env_dirs[KSERVE_ENV])
    assert network.urls == []


def test_a_variable_naming_no_directory_stops_the_run_anywhere(tmp_path: Path) -> None:
    env = {KSERVE_ENV: str(tmp_path / "typo")}
    dirs = SchemaDirs(env=env, cache_dir=tmp_path, fetch=FakeNetwork())

    assert dirs.problem_before_the_run() == f"{KSERVE_ENV}={tmp_path / 'typo'}: not a directory"
    with pytest.raises(pytest.fail.Exception):
        _ = dirs.kserve_crds


def test_a_kserve_crd_dir_without_crds_stops_the_run(tmp_path: Path) -> None:
    dirs = SchemaDirs(env={KSERVE_ENV: str(tmp_path)}, cache_dir=tmp_path, fetch=FakeNetwork())

    problem = dirs.problem_before_the_run()

    assert problem is not None and problem.startswith(f"{KSERVE_ENV}={tmp_path}: ")
    assert "no CustomResourceDefinition found" in problem


# --- a real pytest run, offline (every download through a proxy that refuses) -------------------

VALIDATOR_TEST = "tests/bundle/test_pinning.py::test_the_validator_passes_the_mirrored_overlay"


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in (KSERVE_ENV, CATALOG_ENV, "CI", "PYTEST_ADDOPTS") and not k.lower().endswith("_proxy")
    }
    offline = {"https_proxy": "http://127.0.0.1:9", "no_proxy": "", "XDG_CACHE_HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", VALIDATOR_TEST],
        cwd=REPO,
        env={**clean, **offline, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_ci_run_without_schemas_stops_before_any_test_with_one_line(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, CI="true")

    out = done.stdout + done.stderr
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, out
    named = [line for line in out.splitlines() if KSERVE_ENV in line]
    assert len(named) == 1, out
    assert CATALOG_ENV in named[0] and named[0].count("CI=true: ") == 1
    assert " passed" not in out and " skipped" not in out


def test_a_run_without_schemas_skips_with_one_grouped_line_per_reason(tmp_path: Path) -> None:
    done = run_pytest(tmp_path)

    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "1 skipped" in out
    grouped = out.split("skip reasons")[1].splitlines()[1:2]
    assert len(grouped) == 1 and grouped[0].lstrip().startswith(
        f"1 skipped: KServe CRDs not found: set {KSERVE_ENV} to a directory of KServe CRDs"
    ), out
