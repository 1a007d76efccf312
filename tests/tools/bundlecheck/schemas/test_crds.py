"""crds.py: where CRDs come from (a directory, the live cluster, the pinned KServe release's
download), and the bundle's KServe objects against the real KServe CRDs (the ``schema_dirs``
fixture), strictly (unknown fields are errors).

The strict check covers every overlay and every component combined with an overlay. The bundle renders from a
temporary copy, where the secretGenerator's git-ignored env file is written from its example.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from bundlecheck.findings import Status
from bundlecheck.render import render
from bundlecheck.schemas import crds
from bundlecheck.schemas.checker import SchemaChecker
from bundlecheck.schemas.crds import from_directory, is_kserve
from tests.tools.bundlecheck.schemas.sample_crds import TINY_CRD

REPO = Path(__file__).resolve().parents[4]
OVERLAYS = sorted(p.parent.name for p in REPO.glob("overlays/*/kustomization.yaml"))
COMPONENTS = sorted(p.parent.name for p in REPO.glob("components/*/kustomization.yaml"))
TARGETS = [f"overlays/{o}" for o in OVERLAYS] + [f"combos/{o}+{c}" for o in OVERLAYS for c in COMPONENTS]
# The kinds the bundle deploys: each must be covered, not silently skipped.
BUNDLE_KSERVE_KINDS = {"InferenceService", "ServingRuntime", "ClusterStorageContainer"}


@pytest.fixture(scope="module")
def schemas(schema_dirs) -> SchemaChecker:
    return SchemaChecker(from_directory(schema_dirs.kserve_crds))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    for name in ("base", "components", "overlays"):
        shutil.copytree(REPO / name, root / name)
    for example in root.glob("components/*/*.env.example"):
        shutil.copy(example, example.with_suffix(""))
    for overlay in OVERLAYS:
        for component in COMPONENTS:
            combo = root / f"combos/{overlay}+{component}"
            combo.mkdir(parents=True)
            (combo / "kustomization.yaml").write_text(
                f"resources: [../../overlays/{overlay}]\ncomponents: [../../components/{component}]\n"
            )
    return root


def test_should_find_overlays_and_components_to_check() -> None:
    assert "cpu" in OVERLAYS and len(OVERLAYS) >= 2
    assert COMPONENTS


@pytest.mark.parametrize("target", TARGETS)
def test_every_kserve_object_validates_strictly(bundle: Path, schemas: SchemaChecker, target: str) -> None:
    objects = render(bundle / target).objects
    kserve_objects = [o for o in objects if is_kserve(o["apiVersion"])]

    assert {o["kind"] for o in kserve_objects} >= BUNDLE_KSERVE_KINDS
    for obj in kserve_objects:
        assert schemas.crds.lookup(obj["apiVersion"], obj["kind"]) is not None
        assert schemas.check(obj) == [], f"{obj['kind']} in {target}"


def test_should_reject_a_field_kserve_does_not_know(bundle: Path, schemas: SchemaChecker) -> None:
    isvc = next(o for o in render(bundle / "overlays/cpu").objects if o["kind"] == "InferenceService")
    isvc["spec"]["predictor"]["model"]["gpuCount"] = 1
    isvc["metadata"]["labelz"] = {"team": "search"}

    findings = schemas.check(isvc)

    assert {(f.path, f.status) for f in findings} == {
        ("spec.predictor.model.gpuCount", Status.VIOLATION),
        ("metadata.labelz", Status.VIOLATION),
    }


# --- the sources: a directory, the live cluster, the pinned release's download ----------------


def test_release_download_is_cached(tmp_path: Path) -> None:
    fetched: list[str] = []

    def fetch(url: str) -> str:
        fetched.append(url)
        return yaml.safe_dump(TINY_CRD)

    first = crds.from_release("v0.20.0", tmp_path, fetch)
    again = crds.from_release("v0.20.0", tmp_path, fetch)

    assert len(fetched) == len(crds.KSERVE_CRD_PATHS)
    assert all(u.startswith("https://raw.githubusercontent.com/kserve/kserve/v0.20.0/") for u in fetched)
    assert first.lookup("serving.kserve.io/v1beta1", "InferenceService") is not None
    assert again.schemas == first.schemas


def test_release_download_tries_the_older_path(tmp_path: Path) -> None:
    def fetch(url: str) -> str:
        if "/clusterstoragecontainer/" in url:
            raise OSError("404")
        return yaml.safe_dump(TINY_CRD)

    crds.from_release("v0.20.0", tmp_path, fetch)
    assert (tmp_path / "kserve-v0.20.0/serving.kserve.io_clusterstoragecontainers.yaml").is_file()


def test_offline_without_cache_says_what_to_do(tmp_path: Path) -> None:
    def offline(url: str) -> str:
        raise OSError("network unreachable")

    with pytest.raises(crds.SchemaSourceError, match="--schema-dir DIR or --from-cluster"):
        crds.from_release("v0.20.0", tmp_path, offline)
    assert not list((tmp_path / "kserve-v0.20.0").iterdir())  # no truncated cache file


def test_from_cluster_reads_the_listed_crds(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes import client, config

    monkeypatch.setattr(config, "load_kube_config", lambda context=None: None)
    monkeypatch.setattr(
        client,
        "ApiextensionsV1Api",
        lambda api: SimpleNamespace(list_custom_resource_definition=lambda: SimpleNamespace(items=[TINY_CRD])),
    )

    schemas = crds.from_cluster()

    assert schemas.source == "the live cluster"
    assert schemas.lookup("serving.kserve.io/v1beta1", "InferenceService") == {"type": "object"}


def test_schema_dir_reads_only_crds(tmp_path: Path) -> None:
    shutil.copy(REPO / "base/kustomization.yaml", tmp_path / "kustomization.yaml")
    (tmp_path / "crd.yaml").write_text(yaml.safe_dump(TINY_CRD))
    assert crds.from_directory(tmp_path).kinds() == ["serving.kserve.io/v1beta1 InferenceService"]
