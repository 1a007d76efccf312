"""What docs/images.md ("Releasing and pinning") tells users to do with a release: pin the
digest, mirror the images, add a pull secret. Each rendered from a user's overlay on top of a
real one and validated (against the KServe CRDs of the ``schema_dirs`` fixture,
tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bundlecheck.cli import main as validate
from bundlecheck.kserve.predictor_pod import predictor_pod
from bundlecheck.render import render

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
MIRROR = "registry.internal/ml/kserve-reranker"


def user_overlay(tmp_path: Path, overlay: str, images: list[dict], patches: list[dict] | None = None) -> Path:
    folder = tmp_path / "my-overlay"
    folder.mkdir()
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "overlays" / overlay, folder)],
        "images": images,
        "patches": patches or [],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return folder


@pytest.mark.parametrize("overlay", ["l4", "cpu"])
def test_should_run_the_pinned_digest_in_the_predictor(tmp_path, overlay):
    pinned = user_overlay(tmp_path, overlay, [{"name": "ghcr.io/example/kserve-reranker", "digest": DIGEST}])
    pod = predictor_pod(render(pinned).objects)
    assert pod["spec"]["containers"][0]["image"] == f"ghcr.io/example/kserve-reranker@{DIGEST}"


def mirrored_overlay(tmp_path: Path) -> Path:
    """The mirror of docs/images.md: every image from the internal registry, pulled with its secret."""
    return user_overlay(
        tmp_path,
        "l4",
        [
            {"name": "ghcr.io/example/kserve-reranker", "newName": MIRROR, "digest": DIGEST},
            {"name": "kserve/storage-initializer", "newName": "registry.internal/kserve/storage-initializer"},
        ],
        [
            {
                "target": {"kind": "InferenceService", "name": "reranker-model"},
                "patch": yaml.safe_dump(
                    [
                        {
                            "op": "add",
                            "path": "/spec/predictor/imagePullSecrets",
                            "value": [{"name": "registry-internal"}],
                        }
                    ]
                ),
            }
        ],
    )


def test_should_pull_everything_from_the_mirror_with_the_pull_secret(tmp_path):
    pod = predictor_pod(render(mirrored_overlay(tmp_path)).objects)
    images = {c["name"]: c["image"] for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]}
    assert images == {
        "storage-initializer": "registry.internal/kserve/storage-initializer:v0.20.0",
        "kserve-container": f"{MIRROR}@{DIGEST}",
    }
    assert pod["spec"]["imagePullSecrets"] == [{"name": "registry-internal"}]


def test_the_validator_passes_the_mirrored_overlay(tmp_path, schema_dirs, capsys):
    # Schema (imagePullSecrets is a field KServe knows) and image-pinned (a digest, not a tag).
    args = ["--schema-dir", str(schema_dirs.kserve_crds), "--components", str(REPO / "components")]

    code = validate([*args, str(mirrored_overlay(tmp_path))])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 violation(s)" in out
