"""model_sources.py: which renders show each model source and the cache on the overlays and with
the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlecheck.model_sources import delivery_targets, is_delivery_component, source_components, with_example
from bundlecheck.overlays import overlay_dirs

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture()
def targets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(REPO)
    return delivery_targets(Path("."), "+", overlay_dirs(Path(".")))


def test_the_sources_are_the_four_components() -> None:
    assert [p.name for p in source_components(REPO)] == ["hf", "oci", "oci-native", "pvc"]


def test_a_source_that_reads_a_configmap_comes_after_its_example() -> None:
    oci = REPO / "components/model-source/oci"
    assert with_example(oci, "+") == f"{oci}/example+{oci}"
    assert with_example(REPO / "components/model-source/hf", "+") == str(REPO / "components/model-source/hf")


def test_each_source_is_rendered_on_every_overlay(targets: list[str]) -> None:
    for overlay in overlay_dirs(Path(".")):
        for source in ("hf", "oci/example+components/model-source/oci", "pvc/example+components/model-source/pvc"):
            assert f"{overlay}+components/model-source/{source}" in targets


def test_each_model_is_rendered_before_each_source_and_the_cache_last(targets: list[str]) -> None:
    models = sorted(Path("components/models").glob("*/kustomization.yaml"))
    with_model = [t for t in targets if "+components/models/" in t]
    assert len(with_model) == len(models) * 5  # four sources, and hf with the cache
    for target in with_model:
        parts = target.split("+")
        assert parts[1].startswith("components/models/")
        assert "model-cache" not in target or parts[-1] == "components/model-cache"


def test_the_cache_is_rendered_on_the_gpu_overlays_only(targets: list[str]) -> None:
    cache = [t.split("+")[0] for t in targets if t.endswith("+components/model-cache") and "models/" not in t]
    assert cache == ["overlays/a100", "overlays/h100", "overlays/l4", "overlays/t4"]


def test_sources_their_examples_and_the_cache_are_delivery_components() -> None:
    assert is_delivery_component(REPO / "components/model-source/oci/example", REPO)
    assert is_delivery_component(REPO / "components/model-cache", REPO)
    assert not is_delivery_component(REPO / "components/monitoring", REPO)
