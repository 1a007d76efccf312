"""Third-party kinds (Argo CD, Flux, ESO, SealedSecret, Prometheus Operator, KEDA ...) against
their CRD schemas from the CRDs-catalog layout: every kind any target renders has a schema,
unknown fields are errors, and the pinned download is cached and fails clearly offline.

Tests read the schemas of the ``schema_dirs`` fixture (tests/conftest.py: $KSERVE_CRD_DIR and
$CRD_SCHEMA_DIR, else the validator's pinned downloads); the download itself is exercised with a
fake fetcher and with a loopback HTTP server.
"""

from __future__ import annotations

import copy
import functools
import http.server
import shutil
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bundlecheck.cli import default_targets
from bundlecheck.findings import Status
from bundlecheck.model_components import is_model_component, model_components, read_claim
from bundlecheck.model_sources import delivery_targets, is_delivery_component
from bundlecheck.overlays import overlay_dirs
from bundlecheck.render import is_combination, render, render_combination
from bundlecheck.schemas import catalog
from bundlecheck.schemas.catalog import CATALOG_COMMIT, DirectoryCatalog, DownloadCatalog, catalog_path
from bundlecheck.schemas.checker import SchemaChecker, is_builtin
from bundlecheck.schemas.crds import SchemaSourceError, from_directory, is_kserve
from tests.support.schema_sources import CATALOG_KINDS

REPO = Path(__file__).resolve().parents[4]
OVERLAYS = sorted(str(p.parent.relative_to(REPO)) for p in REPO.glob("overlays/*/kustomization.yaml"))
# Components with a secretGenerator read git-ignored files: not rendered here. Model
# components render on the overlays they claim.
COMPONENTS = sorted(
    str(p.parent.relative_to(REPO))
    for p in REPO.glob("components/**/kustomization.yaml")
    if "secretGenerator" not in p.read_text()
    and not is_model_component(p.parent, REPO)
    and not is_delivery_component(p.parent, REPO)
)
MODEL_TARGETS = [
    f"overlays/{overlay}+{component.relative_to(REPO)}"
    for component in model_components(REPO)
    for overlay in read_claim(component).fits
]
# The model sources and the cache, on the overlays and with the models (model_sources.py).
DELIVERY_TARGETS = [t.replace(f"{REPO}/", "") for t in delivery_targets(REPO, "+", overlay_dirs(REPO))]
GITOPS = sorted(str(p.parent.relative_to(REPO)) for p in REPO.glob("gitops/**/kustomization.yaml"))
TARGETS = [
    *OVERLAYS,
    *GITOPS,
    *(f"{o}+{c}" for o in OVERLAYS for c in COMPONENTS),
    *MODEL_TARGETS,
    *DELIVERY_TARGETS,
]
# The third-party kinds the bundle renders somewhere: each must be schema-checked.
THIRD_PARTY_KINDS = {
    "Application",
    "ApplicationSet",
    "Kustomization",
    "GitRepository",
    "OCIRepository",
    "HelmRelease",
    "ExternalSecret",
    "SealedSecret",
    "PodMonitor",
}


@pytest.fixture(scope="module")
def checker(schema_dirs) -> SchemaChecker:
    kserve_crds, crd_schemas = schema_dirs.both
    return SchemaChecker(from_directory(kserve_crds), catalog=DirectoryCatalog(crd_schemas), require=True)


@functools.cache
def _rendered(target: str) -> tuple[dict[str, Any], ...]:
    path = "+".join(str(REPO / part) for part in target.split("+"))
    return tuple((render_combination(path) if is_combination(path) else render(path)).objects)


def objects_of(target: str) -> list[dict[str, Any]]:
    """A fresh copy of the target's objects (renders are cached)."""
    return copy.deepcopy(list(_rendered(target)))


@pytest.mark.parametrize("target", TARGETS)
def test_every_rendered_object_has_a_schema_and_matches_it(checker: SchemaChecker, target: str) -> None:
    for obj in objects_of(target):
        findings = checker.check(obj)
        assert findings == [], f"{obj['kind']} in {target}: {findings}"


def test_the_targets_cover_every_third_party_kind_of_the_bundle() -> None:
    kinds = {obj["kind"] for target in TARGETS for obj in _rendered(target)}
    assert kinds >= THIRD_PARTY_KINDS


def test_the_tests_pinned_download_covers_every_third_party_kind_the_bundle_renders() -> None:
    # Without CRD_SCHEMA_DIR the tests download these kinds' schemas (schema_sources.py).
    rendered = {
        (obj["apiVersion"], obj["kind"])
        for target in TARGETS
        for obj in _rendered(target)
        if not is_builtin(obj["apiVersion"]) and not is_kserve(obj["apiVersion"])
    }
    assert rendered and rendered <= set(CATALOG_KINDS), rendered - set(CATALOG_KINDS)


def test_make_validate_renders_every_opt_in_component(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    targets = {str(t) for t in default_targets(Path("."))}
    opt_in = [c for c in COMPONENTS if c != "components/nvidia-gpu"]
    assert {f"overlays/cpu+{c}" for c in opt_in} <= targets
    assert set(DELIVERY_TARGETS) <= targets


def test_should_report_unknown_fields_of_a_third_party_kind(checker: SchemaChecker) -> None:
    monitor = next(o for o in objects_of("overlays/cpu+components/monitoring") if o["kind"] == "PodMonitor")
    monitor["spec"]["podMetricsEndpoints"][0]["scrapeEvery"] = "30s"
    monitor["metadata"]["labelz"] = {"team": "search"}

    findings = checker.check(monitor)

    assert {(f.path, f.status) for f in findings} == {
        ("spec.podMetricsEndpoints[0].scrapeEvery", Status.VIOLATION),
        ("metadata.labelz", Status.VIOLATION),
    }


def test_a_kind_missing_from_the_catalog_is_not_checked_unless_schemas_are_required(
    checker: SchemaChecker, tmp_path: Path
) -> None:
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    crds = checker.crds

    lenient = SchemaChecker(crds, catalog=DirectoryCatalog(tmp_path))
    strict = SchemaChecker(crds, catalog=DirectoryCatalog(tmp_path), require=True)

    (lenient_finding,) = lenient.check(widget)
    (strict_finding,) = strict.check(widget)
    assert lenient_finding.status is Status.NOT_CHECKED
    assert strict_finding.status is Status.VIOLATION
    assert f"in directory {tmp_path}" in strict_finding.message


@pytest.mark.parametrize(
    ("api_version", "kind", "path"),
    [
        ("monitoring.coreos.com/v1", "PodMonitor", "monitoring.coreos.com/podmonitor_v1.json"),
        ("keda.sh/v1alpha1", "ScaledObject", "keda.sh/scaledobject_v1alpha1.json"),
        ("v1", "ConfigMap", None),  # the core group has no catalog entry
        ("../etc/v1", "Passwd", None),  # never a path outside the catalog
        ("example.com/v1", "Weird/Kind", None),
    ],
)
def test_catalog_path(api_version: str, kind: str, path: str | None) -> None:
    assert catalog_path(api_version, kind) == path


# --- the pinned download -------------------------------------------------------------------------

PODMONITOR = ("monitoring.coreos.com/v1", "PodMonitor")


def test_download_reads_the_pinned_commit_once_then_the_cache(tmp_path: Path) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return '{"type": "object"}'

    first = DownloadCatalog(tmp_path, fetch=fetch).lookup(*PODMONITOR)
    again = DownloadCatalog(tmp_path, fetch=fetch).lookup(*PODMONITOR)

    assert first == again == {"type": "object"}
    assert fetched == [
        f"https://raw.githubusercontent.com/datreeio/CRDs-catalog/{CATALOG_COMMIT}/"
        "monitoring.coreos.com/podmonitor_v1.json"
    ]
    cached = tmp_path / f"crds-catalog-{CATALOG_COMMIT}/monitoring.coreos.com/podmonitor_v1.json"
    assert cached.read_text() == '{"type": "object"}'


def test_download_of_a_kind_the_catalog_lacks_is_no_schema_not_an_error(tmp_path: Path) -> None:
    calls = []

    def not_found(url: str) -> str:
        calls.append(url)
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)  # type: ignore[arg-type]

    source = DownloadCatalog(tmp_path, fetch=not_found)
    assert source.lookup("example.com/v1", "Widget") is None
    assert source.lookup("example.com/v1", "Widget") is None
    assert len(calls) == 1  # asked once per run


def test_offline_download_says_what_to_do_and_leaves_no_cache_file(tmp_path: Path) -> None:
    def offline(url: str) -> str:
        raise urllib.error.URLError("network unreachable")

    with pytest.raises(SchemaSourceError, match="offline\\? pass --crd-schema-dir DIR"):
        DownloadCatalog(tmp_path, fetch=offline).lookup(*PODMONITOR)
    assert not list(tmp_path.rglob("*.json"))


def test_a_download_that_is_not_json_is_refused_and_not_cached(tmp_path: Path) -> None:
    with pytest.raises(SchemaSourceError, match="not JSON"):
        DownloadCatalog(tmp_path, fetch=lambda url: "<html>rate limited</html>").lookup(*PODMONITOR)
    assert not list(tmp_path.rglob("*.json"))


@pytest.fixture()
def catalog_server(schema_dirs, tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server with one schema of the catalog copy, at /<commit>/<path>."""
    served = tmp_path / "served" / CATALOG_COMMIT / "monitoring.coreos.com"
    served.mkdir(parents=True)
    shutil.copy(schema_dirs.crd_schemas / "monitoring.coreos.com/podmonitor_v1.json", served)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "served"))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{CATALOG_COMMIT}"
    finally:
        server.shutdown()
        server.server_close()


def test_download_over_http_checks_objects_and_treats_404_as_no_schema(
    checker: SchemaChecker, catalog_server: str, tmp_path: Path
) -> None:
    source = DownloadCatalog(tmp_path / "cache", base_url=catalog_server)
    downloaded = SchemaChecker(checker.crds, catalog=source)
    monitor = next(o for o in objects_of("overlays/cpu+components/monitoring") if o["kind"] == "PodMonitor")

    assert downloaded.check(monitor) == []
    monitor["spec"]["scrapeEvery"] = "30s"
    assert [f.path for f in downloaded.check(monitor)] == ["spec.scrapeEvery"]
    assert source.lookup("example.com/v1", "Widget") is None  # the server answers 404
    assert (tmp_path / f"cache/crds-catalog-{CATALOG_COMMIT}/monitoring.coreos.com").is_dir()


def test_the_default_source_is_the_pinned_catalog_commit(tmp_path: Path) -> None:
    source = DownloadCatalog(tmp_path)
    assert catalog.CATALOG_URL.endswith(f"/datreeio/CRDs-catalog/{CATALOG_COMMIT}")
    assert source.base_url == catalog.CATALOG_URL
    assert str(tmp_path) in source.source


def test_the_scaled_object_kserve_makes_from_the_keda_component_matches_kedas_schema(
    checker: SchemaChecker,
) -> None:
    # The bundle renders no KEDA object: KServe creates the ScaledObject from the predictor's
    # autoScaling (reconcilers/keda/keda_reconciler.go). Its shape, from the component's values:
    isvc = next(o for o in objects_of("overlays/h100+components/autoscaling-keda") if o["kind"] == "InferenceService")
    predictor = isvc["spec"]["predictor"]
    (metric,) = predictor["autoScaling"]["metrics"]
    external = metric["external"]
    scaled_object = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "reranker-model-predictor"},
        "spec": {
            "scaleTargetRef": {"name": "reranker-model-predictor"},
            "minReplicaCount": predictor["minReplicas"],
            "maxReplicaCount": predictor["maxReplicas"],
            "triggers": [
                {
                    "type": external["metric"]["backend"],
                    "metadata": {
                        "serverAddress": external["metric"]["serverAddress"],
                        "query": external["metric"]["query"],
                        "threshold": external["target"]["value"],
                    },
                }
            ],
            "advanced": {"horizontalPodAutoscalerConfig": {"behavior": predictor["autoScaling"]["behavior"]}},
        },
    }
    assert checker.check(scaled_object) == []
