"""components/model-source and components/model-cache, rendered: the URI given once decides what
is served, whatever model component comes first; the cache follows the URI served; the air-gapped
kustomization (gitops/air-gapped) pulls everything from its mirror."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from bundlecheck.render import RenderError, render, render_combination

REPO = Path(__file__).resolve().parents[2]
SOURCES = REPO / "components" / "model-source"
CACHE = REPO / "components" / "model-cache"
MODEL = REPO / "components" / "models" / "bge-reranker-v2-m3"
DIGEST = "sha256:" + "cd" * 32
URIS = {
    "oci": f"oci://registry.internal/ml/bge-reranker-v2-m3@{DIGEST}",
    "oci-native": f"oci+native://registry.internal/ml/bge-reranker-v2-m3@{DIGEST}",
    "pvc": "pvc://reranker-models/bge-reranker-v2-m3",
}


def the(objects: list[dict], kind: str) -> dict:
    return next(o for o in objects if o["kind"] == kind)


def users_kustomization(tmp_path: Path, uri: str, components: list[Path], overlay: str = "l4") -> Path:
    """A user's kustomization: an overlay and their model-source.yaml as resources, then components."""
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model-source.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "model-source", "annotations": {"config.kubernetes.io/local-config": "true"}},
                "data": {"uri": uri},
            }
        )
    )
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(REPO / "overlays" / overlay, folder), "model-source.yaml"],
                "components": [os.path.relpath(c, folder) for c in components],
            }
        )
    )
    return folder


@pytest.mark.parametrize("source", sorted(URIS))
def test_the_users_uri_is_served_after_the_model_component(tmp_path: Path, source: str) -> None:
    objects = render(users_kustomization(tmp_path, URIS[source], [MODEL, SOURCES / source])).objects

    predictor = the(objects, "InferenceService")["spec"]["predictor"]
    assert predictor["model"]["storageUri"] == URIS[source]
    # The model component's flags stay; no storage container is named for a URI it cannot fetch.
    assert "--max_model_len=8192" in predictor["model"]["args"]
    assert "storageContainerName" not in predictor
    # The ConfigMap only carried the URI: kustomize leaves it out.
    assert not [o for o in objects if o["kind"] == "ConfigMap"]


def test_a_source_without_the_users_configmap_does_not_render(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="model-source"):
        render_combination(f"{REPO / 'overlays/cpu'}+{SOURCES / 'oci'}")


def test_the_hf_source_serves_the_model_components_pinned_uri() -> None:
    objects = render_combination(f"{REPO / 'overlays/l4'}+{MODEL}+{SOURCES / 'hf'}").objects

    isvc = the(objects, "InferenceService")
    assert isvc["spec"]["predictor"]["model"]["storageUri"].startswith("hf://BAAI/bge-reranker-v2-m3:")
    assert isvc["spec"]["predictor"]["storageContainerName"] == "hf-hub"
    assert isvc["metadata"]["annotations"]["kserve-reranker.example.com/model-source"] == "hf"


def test_the_cache_caches_the_uri_the_model_component_serves() -> None:
    objects = render_combination(f"{REPO / 'overlays/l4'}+{MODEL}+{SOURCES / 'hf'}+{CACHE}").objects

    isvc, cache = the(objects, "InferenceService"), the(objects, "LocalModelCache")
    assert cache["spec"]["sourceModelUri"] == isvc["spec"]["predictor"]["model"]["storageUri"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/nodegroup"] in cache["spec"]["nodeGroups"]
    assert the(objects, "LocalModelNodeGroup")["metadata"]["name"] in cache["spec"]["nodeGroups"]


def test_a_name_prefix_follows_into_the_node_group_references(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "namePrefix": "team-",
                "resources": [os.path.relpath(REPO / "overlays/l4", tmp_path)],
                "components": [os.path.relpath(CACHE, tmp_path)],
            }
        )
    )
    objects = render(tmp_path).objects

    group = the(objects, "LocalModelNodeGroup")["metadata"]["name"]
    assert group.startswith("team-")
    assert the(objects, "LocalModelCache")["spec"]["nodeGroups"] == [group]
    assert the(objects, "InferenceService")["metadata"]["annotations"]["serving.kserve.io/nodegroup"] == group


def test_the_air_gapped_kustomization_pulls_images_and_model_from_the_mirror() -> None:
    objects = render(REPO / "gitops/air-gapped").objects

    images = [the(objects, "ServingRuntime")["spec"]["containers"][0]["image"]]
    images.append(the(objects, "ClusterStorageContainer")["spec"]["container"]["image"])
    uri = the(objects, "InferenceService")["spec"]["predictor"]["model"]["storageUri"]
    assert all(i.startswith("registry.internal/") and "@sha256:" in i for i in images), images
    assert uri.startswith("oci://registry.internal/") and "@sha256:" in uri
