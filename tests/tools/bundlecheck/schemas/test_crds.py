"""KServe objects against the real KServe CRDs (the ``schema_dirs`` fixture), strictly (unknown
fields are errors).

Covers every overlay and every component combined with an overlay. The bundle renders from a
temporary copy, where the secretGenerator's git-ignored env file is written from its example.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundlecheck.crds import from_directory, is_kserve
from bundlecheck.findings import Status
from bundlecheck.render import render
from bundlecheck.schemas import SchemaChecker

REPO = Path(__file__).resolve().parents[3]
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
