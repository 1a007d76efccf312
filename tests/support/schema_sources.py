"""Where the tests get the schemas the bundle is checked against: the KServe CRDs and the
third-party schemas in the CRDs-catalog layout. One place, one order:

1. the environment: ``KSERVE_CRD_DIR`` (a directory of KServe CRD files) and ``CRD_SCHEMA_DIR``
   (a directory in the CRDs-catalog layout, ``<group>/<kind>_<version>.json``);
2. otherwise the validator's own pinned downloads (``bundlecheck.crds.from_release`` and
   ``bundlecheck.catalog.DownloadCatalog``), fetched once into its cache
   (``$XDG_CACHE_HOME/kserve-reranker``, else ``~/.cache/kserve-reranker``) and read from there;
3. otherwise the tests that need them skip with one line naming the variable to set, except
   under ``CI=true``, where that line ends the run before any test runs.

tests/conftest.py turns this into the ``schema_dirs`` fixture and the CI check.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

from bundlecheck.schemas import catalog, crds

KSERVE_ENV = "KSERVE_CRD_DIR"
CATALOG_ENV = "CRD_SCHEMA_DIR"
# Per socket operation: offline, a download fails within this, not after the validator's 30 s.
DOWNLOAD_TIMEOUT_S = 10
# The third-party kinds the tests check against the catalog: every one the bundle renders, and
# the ScaledObject KServe makes from the KEDA component. Downloaded from the pinned catalog
# commit when CRD_SCHEMA_DIR is not set (test_schemas_catalog checks this list is complete).
CATALOG_KINDS: tuple[tuple[str, str], ...] = (
    ("argoproj.io/v1alpha1", "Application"),
    ("argoproj.io/v1alpha1", "ApplicationSet"),
    ("bitnami.com/v1alpha1", "SealedSecret"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("helm.toolkit.fluxcd.io/v2", "HelmRelease"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
    ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("source.toolkit.fluxcd.io/v1", "GitRepository"),
    ("source.toolkit.fluxcd.io/v1", "OCIRepository"),
)

Fetch = Callable[[str], str]


class SchemasUnavailable(Exception):
    """Neither the environment nor the pinned download gives these schemas (one-line message)."""


class SchemasMisconfigured(Exception):
    """A variable is set but does not name usable schemas: an error wherever the tests run."""


def is_ci(env: Mapping[str, str]) -> bool:
    return env.get("CI", "").strip().lower() in ("true", "1")


def _fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        return response.read().decode("utf-8")


def _configured(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise SchemasMisconfigured(f"{name}={value}: not a directory")
    return path.resolve()


def kserve_crd_dir(env: Mapping[str, str], cache_dir: Path | None = None, fetch: Fetch = _fetch) -> Path:
    """A directory of the KServe CRDs: $KSERVE_CRD_DIR, else the pinned release in the cache."""
    configured = _configured(env, KSERVE_ENV)
    if configured is not None:
        try:
            crds.from_directory(configured)
        except crds.SchemaSourceError as error:
            raise SchemasMisconfigured(f"{KSERVE_ENV}={configured}: {error}") from error
        return configured
    failures: list[Exception] = []
    try:
        schemas = crds.from_release(crds.KSERVE_VERSION, cache_dir, _recording(fetch, failures))
    except crds.SchemaSourceError as error:
        raise SchemasUnavailable(
            f"KServe CRDs not found: set {KSERVE_ENV} to a directory of KServe CRDs (or allow "
            f"the pinned download of KServe {crds.KSERVE_VERSION}: {_cause(failures, error)})"
        ) from error
    # from_release reads back the directory it cached the release in.
    return Path(schemas.source.removeprefix("directory "))


def crd_schema_dir(env: Mapping[str, str], cache_dir: Path | None = None, fetch: Fetch = _fetch) -> Path:
    """A directory in the CRDs-catalog layout: $CRD_SCHEMA_DIR, else the pinned catalog commit's
    schemas of CATALOG_KINDS in the cache."""
    configured = _configured(env, CATALOG_ENV)
    if configured is not None:
        return configured
    failures: list[Exception] = []
    source = catalog.DownloadCatalog(cache_dir, fetch=_recording(fetch, failures))
    try:
        for api_version, kind in CATALOG_KINDS:
            source.lookup(api_version, kind)
    except crds.SchemaSourceError as error:
        raise SchemasUnavailable(
            f"CRD schemas not found: set {CATALOG_ENV} to a directory in the CRDs-catalog layout "
            f"(or allow the pinned download from {catalog.CATALOG_REPO}: "
            f"{_cause(failures, error)})"
        ) from error
    assert source.cache_dir is not None
    return source.cache_dir


def _recording(fetch: Fetch, failures: list[Exception]) -> Fetch:
    """``fetch``, keeping each error it raises (the validator's messages bury them in advice
    for its own command line)."""

    def recording(url: str) -> str:
        try:
            return fetch(url)
        except Exception as error:
            failures.append(error)
            raise

    return recording


def _cause(failures: list[Exception], error: Exception) -> str:
    """Why the download failed, in a few words: the last fetch error's reason."""
    last: object = failures[-1] if failures else error
    last = getattr(last, "reason", None) or last  # URLError wraps the socket error
    words = str(last).strip().splitlines()
    return words[0] if words else type(last).__name__


@dataclass
class SchemaDirs:
    """The ``schema_dirs`` fixture: each directory resolved on first use, once per session.
    Unavailable: the test skips with one line (under CI=true it fails)."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    cache_dir: Path | None = None
    fetch: Fetch = _fetch
    _resolved: dict[str, Path | Exception] = field(default_factory=dict, init=False, repr=False)

    @property
    def kserve_crds(self) -> Path:
        return self._get(KSERVE_ENV)

    @property
    def crd_schemas(self) -> Path:
        return self._get(CATALOG_ENV)

    @property
    def both(self) -> tuple[Path, Path]:
        """(kserve_crds, crd_schemas); either missing: one line naming each missing variable."""
        results = [self.resolve(KSERVE_ENV), self.resolve(CATALOG_ENV)]
        problems = [r for r in results if isinstance(r, Exception)]
        if problems:
            self._stop_or_skip(problems)
        return results[0], results[1]  # type: ignore[return-value]

    def resolve(self, name: str) -> Path | Exception:
        """The directory for ``name`` (KSERVE_ENV or CATALOG_ENV), or why there is none."""
        if name not in self._resolved:
            resolver = kserve_crd_dir if name == KSERVE_ENV else crd_schema_dir
            try:
                self._resolved[name] = resolver(self.env, self.cache_dir, self.fetch)
            except (SchemasUnavailable, SchemasMisconfigured) as error:
                self._resolved[name] = error
        return self._resolved[name]

    def _get(self, name: str) -> Path:
        result = self.resolve(name)
        if isinstance(result, Path):
            return result
        self._stop_or_skip([result])

    def _stop_or_skip(self, problems: list[Exception]) -> NoReturn:
        message = "; ".join(map(str, problems))
        if is_ci(self.env) or any(isinstance(p, SchemasMisconfigured) for p in problems):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def problem_before_the_run(self) -> str | None:
        """One line that must stop the run before any test, or None: a variable that is set but
        wrong (anywhere), or, under CI=true, schemas that neither the variables nor the pinned
        download give."""
        problems = []
        for name in (KSERVE_ENV, CATALOG_ENV):
            if not self.env.get(name, "").strip() and not is_ci(self.env):
                continue  # resolved on first use; unavailable: a skip
            result = self.resolve(name)
            if isinstance(result, Exception):
                problems.append(str(result))
        if not problems:
            return None
        prefix = "CI=true: " if is_ci(self.env) else ""
        return prefix + "; ".join(problems)
