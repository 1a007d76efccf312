"""What the kind suite sends to the API server: every kustomization ``make validate`` renders
(bundlecheck's own enumeration), but the GitOps examples, whose Argo CD and Flux kinds belong to
controllers the suite does not install."""

from __future__ import annotations

from pathlib import Path

from bundlecheck.cli import default_targets
from bundlecheck.render import COMBINE, RenderResult, is_combination, render, render_combination

REPO = Path(__file__).resolve().parents[2]


def bundle_targets() -> list[str]:
    """Each overlay, each opt-in component on overlays/cpu, each model component on every overlay
    it claims: ``overlays/cpu``, ``overlays/cpu+components/monitoring``..."""
    gitops = REPO / "gitops"
    return [str(t) for t in default_targets(REPO) if not Path(str(t).split(COMBINE)[0]).is_relative_to(gitops)]


def render_target(target: str) -> RenderResult:
    return render_combination(target) if is_combination(target) else render(target)
