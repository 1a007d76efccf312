"""overlays.py: the bundle's overlays, and which are GPU overlays, read from the overlays' renders."""

from __future__ import annotations

from pathlib import Path

import yaml

from bundlecheck.overlays import Overlay, bundle_overlays, overlay_dirs

REPO = Path(__file__).resolve().parents[3]


def overlay(root: Path, name: str, resources: dict, node_selector: dict | None = None) -> None:
    folder = root / "overlays" / name
    folder.mkdir(parents=True)
    pod_spec = {"containers": [{"name": "c", "image": "i:1", "resources": resources}]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": pod_spec}
    (folder / "pod.yaml").write_text(yaml.safe_dump(pod))
    (folder / "kustomization.yaml").write_text("resources: [pod.yaml]\n")


def test_should_list_each_overlay_with_the_gpu_its_pods_request_and_select(tmp_path: Path) -> None:
    overlay(tmp_path, "small", {"limits": {"cpu": "1"}})
    overlay(tmp_path, "big", {"limits": {"nvidia.com/gpu": "1"}}, {"nvidia.com/gpu.product": "NVIDIA-L4"})
    overlay(tmp_path, "unpinned", {"limits": {"nvidia.com/gpu": "1"}})
    (tmp_path / "overlays" / "notes").mkdir()  # no kustomization: not an overlay

    assert bundle_overlays(tmp_path) == [
        Overlay("big", tmp_path / "overlays/big", True, "NVIDIA-L4"),
        Overlay("small", tmp_path / "overlays/small", False, None),
        Overlay("unpinned", tmp_path / "overlays/unpinned", True, None),
    ]


def test_the_bundles_gpu_overlays_should_each_select_a_gpu_product() -> None:
    overlays = bundle_overlays(REPO)
    assert [o.path for o in overlays] == overlay_dirs(REPO)
    assert [o.name for o in overlays if not o.gpu] == ["cpu"]
    gpu = [o for o in overlays if o.gpu]
    assert gpu and all(o.gpu_product for o in gpu)
    assert len({o.gpu_product for o in gpu}) == len(gpu)  # one overlay per card
