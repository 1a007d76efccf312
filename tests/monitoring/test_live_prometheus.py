"""Every dashboard panel and every alert of components/monitoring against what a real server
exports, through a real Prometheus: no query names a metric or label the server does not have.

A real server process (the embedded MiniLM model, a small queue bound) is scraped every second by
Debian's Prometheus, which also loads the rendered rules. A short burst of concurrent requests
makes the server shed; then each panel query and each alert's left-hand side (the expression
without its threshold) is evaluated through Prometheus's HTTP API and must return series. Nothing
here asserts a duration: the waits are bounded polls for the scraped data.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from harness import request_bodies as workload
from harness import server_process
from tests.support import monitoring

pytestmark = [pytest.mark.monitoring, pytest.mark.slow, pytest.mark.timeout(300)]

# The labels the PodMonitor gives every series of a predictor pod (the Operator's namespace and
# pod, and the podTargetLabels), set here on the one static target.
TARGET_LABELS = {
    "serving_kserve_io_inferenceservice": "reranker-model",
    "component": "predictor",
    "namespace": "reranker",
    "pod": "reranker-model-predictor-0",
}
# Series that come from kube-state-metrics, not from the server: absent here by construction.
EXTERNAL_SERIES = {"kube_deployment_status_replicas_available": "kube-state-metrics"}
# Alerts whose left-hand side has no series unless the failure they watch happens: the ratio's
# numerator selects 5xx answers (other than 504), which a healthy server never gives. Their
# selectors are still checked below, without the status matcher.
ONLY_ON_FAILURE = {"RerankerServerErrors": "no 500/503 answers from a healthy server"}
# Matchers on values that depend on what happened (a status that did not occur): the selector is
# checked without them, and the label itself must exist on the metric.
OUTCOME_LABELS = ("status",)
POLL_S = 60


def prometheus_config(server_port: int) -> dict:
    return {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {
                "job_name": "reranker/reranker-model",
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{server_port}"], "labels": TARGET_LABELS}],
            }
        ],
    }


def query(prometheus_url: str, promql: str) -> list[dict]:
    response = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", f"{promql}: {body}"
    return body["data"]["result"]


def poll(prometheus_url: str, promql: str) -> list[dict]:
    """The query's result once it has series, or its last (empty) result after POLL_S."""
    deadline = time.monotonic() + POLL_S
    while True:
        result = query(prometheus_url, promql)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


async def burst(url: str, clients: int, requests_each: int) -> Counter:
    """``clients`` concurrent clients, each sending ``requests_each`` rerank requests: the
    statuses they got."""
    statuses: Counter = Counter()

    async def client(index: int) -> None:
        async with httpx.AsyncClient(timeout=120) as http:
            for n in range(requests_each):
                body = workload.rerank_body(5, 30, index * 7 + n)
                statuses[(await http.post(f"{url}/openai/v1/rerank", json=body)).status_code] += 1

    await asyncio.gather(*(client(i) for i in range(clients)))
    return statuses


def without_outcome_matchers(matchers: str) -> str:
    kept = [m.strip() for m in matchers.split(",") if m.strip() and m.split("=")[0].strip(" !~") not in OUTCOME_LABELS]
    return ", ".join(kept)


@pytest.fixture(scope="module")
def scraped(minilm_dir, monitoring_objects, prometheus, tmp_path_factory):
    """(Prometheus URL, the statuses of the burst) once Prometheus has scraped the shedding."""
    directory: Path = tmp_path_factory.mktemp("prometheus")
    flags = [
        f"--model_id={minilm_dir}",
        "--backend=torch",
        "--log_level=warning",
        "--max_queued_pairs=25",
        "--request_timeout=4",
    ]
    with server_process.Server(flags, directory / "server.log") as server:
        (directory / "rules.yaml").write_text(yaml.safe_dump(monitoring.rule_groups(monitoring_objects)))
        (directory / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config(server.port)))
        command = [
            prometheus,
            f"--config.file={directory / 'prometheus.yml'}",
            f"--storage.tsdb.path={directory / 'data'}",
            "--web.listen-address=127.0.0.1:{port}",
        ]
        with server_process.Server(
            command=command, log_path=directory / "prometheus.log", ready_path="/-/ready"
        ) as prom:
            assert poll(prom.url, 'up{job="reranker/reranker-model"} == 1'), prom.log()[-3000:]
            statuses = asyncio.run(burst(server.url, clients=32, requests_each=3))
            shed = poll(prom.url, "sum(reranker_requests_shed_total) > 0")
            assert shed, f"Prometheus never saw the shedding (statuses {statuses})"
            yield prom.url, statuses


def test_the_burst_should_make_the_server_shed(scraped):
    _, statuses = scraped
    assert statuses[429] > 0 and statuses[200] > 0, statuses


def test_every_metric_a_panel_or_alert_names_should_exist_in_the_scrape(scraped, monitoring_objects):
    url, _ = scraped
    names = set(httpx.get(f"{url}/api/v1/label/__name__/values", timeout=10).json()["data"])
    exprs = [rule["expr"] for rule in monitoring.alerts(monitoring_objects).values()]
    for targets in monitoring.panel_queries(monitoring.dashboard(monitoring_objects)).values():
        exprs += [monitoring.as_prometheus_query(e) for e in targets]
    referenced = {name for expr in exprs for name, _ in monitoring.selectors(expr)}
    assert referenced - set(EXTERNAL_SERIES) <= names, f"missing: {sorted(referenced - set(EXTERNAL_SERIES) - names)}"
    assert set(EXTERNAL_SERIES) <= referenced, "an external series no query uses: drop it from the list"
    missing_labels = []
    for expr in exprs:
        for name, matchers in monitoring.selectors(expr):
            if name in EXTERNAL_SERIES:
                continue
            if not query(url, f"{name}{{{without_outcome_matchers(matchers)}}}"):
                missing_labels.append(f"{name}{{{matchers}}}")
            for label in OUTCOME_LABELS:
                if f"{label}=" in matchers or f"{label}!" in matchers:
                    assert query(url, f'{name}{{{label}!=""}}'), f"{name} has no label {label}"
    assert missing_labels == [], "selectors matching no scraped series"


def test_every_dashboard_panel_should_return_data(scraped, monitoring_objects):
    url, _ = scraped
    empty = []
    for title, targets in monitoring.panel_queries(monitoring.dashboard(monitoring_objects)).items():
        assert targets, f"panel {title} has no query"
        empty += [f"{title}: {expr}" for expr in targets if not poll(url, monitoring.as_prometheus_query(expr))]
    assert empty == [], "panels without data"


def test_every_alert_should_evaluate_to_series_without_its_threshold(scraped, monitoring_objects):
    url, _ = scraped
    empty = []
    for name, rule in monitoring.alerts(monitoring_objects).items():
        names = {n for n, _ in monitoring.selectors(rule["expr"])}
        if names & set(EXTERNAL_SERIES) or name in ONLY_ON_FAILURE:
            continue  # listed above, with the reason
        if not poll(url, monitoring.left_hand_side(rule["expr"])):
            empty.append(name)
    assert empty == [], "alerts whose expression has no series"
    assert set(ONLY_ON_FAILURE) <= set(monitoring.alerts(monitoring_objects))


def test_prometheus_should_load_and_evaluate_every_rule_without_error(scraped, monitoring_objects):
    url, _ = scraped
    response = httpx.get(f"{url}/api/v1/rules", timeout=10).json()
    rules = {r["name"]: r for g in response["data"]["groups"] for r in g["rules"]}
    assert set(rules) == set(monitoring.alerts(monitoring_objects))
    deadline = time.monotonic() + POLL_S
    while any(r.get("health") != "ok" for r in rules.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        response = httpx.get(f"{url}/api/v1/rules", timeout=10).json()
        rules = {r["name"]: r for g in response["data"]["groups"] for r in g["rules"]}
    assert {n: (r.get("health"), r.get("lastError")) for n, r in rules.items() if r.get("health") != "ok"} == {}
