"""The copies of the overlay list that have to stay, because people read or apply them as they
are, each held equal to the overlays themselves: the directories under overlays/.

Nothing is rendered: the files are read as YAML (test_bundle.py renders them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
APPLICATIONSET = REPO / "gitops/argocd/appset/reranker-applicationset.yaml"
OVERLAY_LABEL = "kserve-reranker.example.com/overlay"


def overlays() -> list[str]:
    """The overlays: every directory under overlays/ with a kustomization."""
    return sorted(path.parent.name for path in (REPO / "overlays").glob("*/kustomization.yaml"))


def overlay_selector(appset: dict[str, Any]) -> dict[str, Any]:
    """The ApplicationSet's cluster-generator expression on the overlay label."""
    (generator,) = appset["spec"]["generators"]
    expressions = generator["clusters"]["selector"]["matchExpressions"]
    (expression,) = [e for e in expressions if e["key"] == OVERLAY_LABEL]
    return expression


def test_there_are_overlays_to_compare_with() -> None:
    assert len(overlays()) >= 2
    assert all((REPO / "overlays" / name).is_dir() for name in overlays())
    assert sorted(p.name for p in (REPO / "overlays").iterdir() if p.is_dir()) == overlays()


def test_the_applicationset_offers_exactly_the_overlays() -> None:
    appset = yaml.safe_load(APPLICATIONSET.read_text())
    expression = overlay_selector(appset)
    assert expression["operator"] == "In"
    assert sorted(expression["values"]) == overlays(), "add or remove the overlay in the ApplicationSet too"
    assert len(set(expression["values"])) == len(expression["values"])


def test_the_applicationset_deploys_the_overlay_its_label_names() -> None:
    appset = yaml.safe_load(APPLICATIONSET.read_text())
    path = appset["spec"]["template"]["spec"]["source"]["path"]
    assert path == f'overlays/{{{{ index .metadata.labels "{OVERLAY_LABEL}" }}}}'
