"""components/monitoring's Grafana dashboard: a ConfigMap kube-prometheus-stack's Grafana sidecar
loads, every panel on the `$datasource` variable, and a panel for each thing operators watch.
Whether the queries return data is test_live_prometheus.py's job."""

from __future__ import annotations

import pytest

from tests.support import monitoring

# What the dashboard must show, as the metric each needs somewhere in a panel's queries.
SHOWN = {
    "documents per second": "reranker_documents_scored_total",
    "tokens per second": "reranker_tokens_total",
    "latency percentiles": "reranker_request_duration_seconds_bucket",
    "queue depth (pairs)": "reranker_queue_pairs",
    "queue depth (requests)": "reranker_queue_requests",
    "shed": "reranker_requests_shed_total",
    "expired": "reranker_requests_expired_total",
    "cancelled": "reranker_requests_cancelled_total",
    "batch sizes": "reranker_batch_size_bucket",
    "in-flight requests": "reranker_requests_in_flight",
    "replicas": "up",
}


@pytest.fixture(scope="module")
def board(monitoring_objects):
    return monitoring.dashboard(monitoring_objects)


def test_should_be_a_configmap_the_grafana_sidecar_loads(monitoring_objects):
    config_map = monitoring.one(monitoring_objects, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["name"] == "reranker-dashboard", "a fixed name, no hash suffix"
    assert list(config_map["data"]) == ["reranker-dashboard.json"]


def test_every_panel_should_query_the_chosen_datasource(board):
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}", panel["title"]


def test_every_query_should_select_the_inference_service_and_namespace(board):
    for title, exprs in monitoring.panel_queries(board).items():
        for expr in exprs:
            for name, matchers in monitoring.selectors(expr):
                assert 'serving_kserve_io_inferenceservice="reranker-model"' in matchers, f"{title}: {name}"
                assert 'namespace=~"$namespace"' in matchers, f"{title}: {name}"


@pytest.mark.parametrize("what", sorted(SHOWN))
def test_should_show(board, what):
    names = {n for exprs in monitoring.panel_queries(board).values() for e in exprs for n, _ in monitoring.selectors(e)}
    assert SHOWN[what] in names


def test_panels_should_not_overlap(board):
    cells = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        xs, ys = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        area = {(x, y) for x in xs for y in ys}
        assert not cells & area, f"{panel['title']} overlaps another panel"
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells |= area
    assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
