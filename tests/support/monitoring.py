"""components/monitoring as the tests see it: the rendered PrometheusRule and dashboard, the PromQL
in them, and the selectors and left-hand sides of that PromQL."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bundlecheck.render import render_combination

REPO = Path(__file__).resolve().parents[2]
COMPONENT = "components/monitoring"
# The overlay the component is rendered on (every overlay renders it: tests/manifests).
OVERLAY = "overlays/cpu"
DOCS_PAGE = REPO / "docs" / "monitoring.md"

# A selector: a metric name followed by its label matchers. Every selector in the component is
# written with braces (each names the InferenceService), so this finds them all.
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
# An alert's comparison with its threshold, at the end of the expression.
_COMPARISON = re.compile(r"\s*(>|<|>=|<=|==|!=)\s*[0-9.eE+-]+\s*$")


def render_monitoring() -> list[dict[str, Any]]:
    """The objects the component adds to an overlay."""
    objects = render_combination(f"{REPO / OVERLAY}+{REPO / COMPONENT}").objects
    return [o for o in objects if o["kind"] in ("PodMonitor", "PrometheusRule", "ConfigMap")]


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


def rule_groups(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The PrometheusRule's spec as a Prometheus rule file ({"groups": [...]})."""
    return {"groups": one(objects, "PrometheusRule")["spec"]["groups"]}


def alerts(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every alerting rule by name."""
    return {r["alert"]: r for g in rule_groups(objects)["groups"] for r in g["rules"] if "alert" in r}


def dashboard(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (text,) = one(objects, "ConfigMap")["data"].values()
    return json.loads(text)


def panel_queries(board: dict[str, Any]) -> dict[str, list[str]]:
    """Every panel's PromQL, by panel title."""
    return {p["title"]: [t["expr"] for t in p.get("targets", [])] for p in board["panels"]}


def as_prometheus_query(expr: str, rate_interval: str = "1m") -> str:
    """A dashboard query as Prometheus evaluates it once Grafana fills in its variables (every
    namespace)."""
    return expr.replace("$__rate_interval", rate_interval).replace("$namespace", ".*")


def selectors(expr: str) -> list[tuple[str, str]]:
    """(metric name, matchers) of every selector in ``expr``."""
    return [(m.group(1), m.group(2)) for m in _SELECTOR.finditer(expr)]


def left_hand_side(expr: str) -> str:
    """An alert's expression without its final comparison: the value it compares."""
    stripped = _COMPARISON.sub("", expr.strip())
    assert stripped != expr.strip(), f"no comparison with a number at the end of: {expr}"
    return stripped


def runbook_anchors() -> set[str]:
    """The anchors of docs/monitoring.md's headings, as GitHub makes them."""
    anchors = set()
    for line in DOCS_PAGE.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors
