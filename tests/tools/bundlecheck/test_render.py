"""bundlecheck.render: every available renderer gives the same objects, and failures are clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundlecheck.render import (
    RenderError,
    available_renderers,
    is_combination,
    render,
    render_combination,
)

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  enabled: "on"
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec: {}
"""


@pytest.fixture()
def overlay(tmp_path: Path) -> Path:
    """A base with two objects (Deployment listed first) and an overlay adding a name prefix."""
    base = tmp_path / "base"
    base.mkdir()
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    (base / "configmap.yaml").write_text(CONFIGMAP)
    (base / "kustomization.yaml").write_text("resources: [deployment.yaml, configmap.yaml]\n")
    top = tmp_path / "overlay"
    top.mkdir()
    (top / "kustomization.yaml").write_text("resources: [../base]\nnamePrefix: team-\n")
    return top


@pytest.mark.parametrize("renderer", available_renderers())
def test_should_render_objects_as_dicts_in_kustomize_order(overlay: Path, renderer: str) -> None:
    result = render(overlay, renderer=renderer)

    assert result.renderer == renderer
    assert result.path == overlay.resolve()
    # Kustomize's legacy order puts a ConfigMap before the Deployment that may use it.
    assert [(o["kind"], o["metadata"]["name"]) for o in result.objects] == [
        ("ConfigMap", "team-settings"),
        ("Deployment", "team-app"),
    ]
    # Quoted YAML 1.1 booleans stay strings.
    assert result.objects[0]["data"] == {"enabled": "on"}


def test_should_prefer_pykustomize_when_installed(overlay: Path) -> None:
    pytest.importorskip("pykustomize")
    assert render(overlay).renderer == "pykustomize"


@pytest.mark.parametrize("renderer", available_renderers())
def test_should_raise_render_error_naming_the_missing_file(tmp_path: Path, renderer: str) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")

    with pytest.raises(RenderError) as raised:
        render(tmp_path, renderer=renderer)

    assert raised.value.renderer == renderer
    assert "missing.yaml" in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_should_refuse_a_directory_without_kustomization(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no kustomization.yaml"):
        render(tmp_path)


def test_should_refuse_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="not a directory"):
        render(tmp_path / "absent")


def test_should_refuse_an_unknown_renderer(overlay: Path) -> None:
    with pytest.raises(RenderError, match="unknown renderer"):
        render(overlay, renderer="helm")


def test_should_render_components_applied_to_a_kustomization(overlay: Path, tmp_path: Path) -> None:
    component = tmp_path / "component"
    component.mkdir()
    (component / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n"
    )
    (component / "extra.yaml").write_text(CONFIGMAP.replace("settings", "extra"))

    result = render_combination(f"{overlay}+{component}")

    # The overlay's objects (prefixed by it), and the component's (added above it).
    names = {o["metadata"]["name"] for o in result.objects}
    assert names == {"team-settings", "team-app", "extra"}
    assert result.path == overlay  # the components folder is looked for above the first part
    assert is_combination(f"{overlay}+{component}") and not is_combination(overlay)


def test_should_name_the_combination_when_a_part_is_missing(overlay: Path, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no kustomization.yaml"):
        render_combination(f"{overlay}+{tmp_path / 'missing'}")
