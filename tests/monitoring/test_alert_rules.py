"""components/monitoring's PrometheusRule: every alert is complete and documented (no tool
needed), the rule file passes `promtool check rules`, and `promtool test rules` shows each alert
firing on a series that means trouble and quiet on a healthy one (alerts_test.yaml)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import monitoring

HERE = Path(__file__).resolve().parent
UNIT_TESTS = HERE / "alerts_test.yaml"
# What the server's operators are promised an alert for (docs/monitoring.md's runbooks).
EXPECTED_ALERTS = {
    "RerankerShedding",
    "RerankerDeadlinesExpired",
    "RerankerServerErrors",
    "RerankerLatencyHigh",
    "RerankerNoReadyReplica",
    "RerankerQueueNearBound",
    "RerankerScrapeDown",
}


def write_rule_file(objects, directory: Path) -> Path:
    path = directory / "rules.yaml"
    path.write_text(yaml.safe_dump(monitoring.rule_groups(objects), sort_keys=False))
    return path


def unit_tests_with_annotations(objects) -> dict:
    """alerts_test.yaml with each expected alert's annotations taken from the rendered rule."""
    alerts = monitoring.alerts(objects)
    suite = yaml.safe_load(UNIT_TESTS.read_text())
    for case in suite["tests"]:
        for check in case["alert_rule_test"]:
            for expected in check["exp_alerts"]:
                expected["exp_annotations"] = alerts[check["alertname"]]["annotations"]
    return suite


def test_should_ship_the_promised_alerts(monitoring_objects):
    assert set(monitoring.alerts(monitoring_objects)) == EXPECTED_ALERTS


@pytest.mark.parametrize("name", sorted(EXPECTED_ALERTS))
def test_every_alert_should_say_how_bad_what_and_what_to_do(monitoring_objects, name):
    rule = monitoring.alerts(monitoring_objects)[name]
    assert rule["labels"]["severity"] in ("warning", "critical")
    assert rule["for"], "a duration, so one bad scrape does not page"
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    url = annotations["runbook_url"]
    assert url.startswith("https://github.com/example/kserve-reranker/blob/main/docs/monitoring.md#")
    anchor = url.rsplit("#", 1)[1]
    assert anchor == name.lower()
    assert anchor in monitoring.runbook_anchors(), f"docs/monitoring.md has no section #{anchor}"


def test_every_alert_should_have_a_firing_and_a_quiet_unit_test():
    suite = yaml.safe_load(UNIT_TESTS.read_text())
    firing, quiet = set(), set()
    for case in suite["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == EXPECTED_ALERTS
    assert quiet == EXPECTED_ALERTS


@pytest.mark.monitoring
def test_promtool_should_accept_the_rendered_rules(monitoring_objects, promtool, tmp_path):
    rules = write_rule_file(monitoring_objects, tmp_path)
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in result.stdout + result.stderr


@pytest.mark.monitoring
def test_promtool_should_pass_every_alerts_unit_tests(monitoring_objects, promtool, tmp_path):
    write_rule_file(monitoring_objects, tmp_path)
    suite = tmp_path / "alerts_test.yaml"
    suite.write_text(yaml.safe_dump(unit_tests_with_annotations(monitoring_objects), sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(suite)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


@pytest.mark.monitoring
def test_the_unit_tests_should_catch_an_alert_that_never_fires(monitoring_objects, promtool, tmp_path):
    """The harness can fail: with every threshold out of reach, each firing case fails."""
    monitoring_objects = copy.deepcopy(monitoring_objects)
    for rule in monitoring.alerts(monitoring_objects).values():
        rule["expr"] = monitoring.left_hand_side(rule["expr"]) + " > 1e12"
    write_rule_file(monitoring_objects, tmp_path)
    suite = tmp_path / "alerts_test.yaml"
    suite.write_text(yaml.safe_dump(unit_tests_with_annotations(monitoring_objects), sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(suite)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for name in EXPECTED_ALERTS:
        assert name in output, f"{name}'s firing case did not fail"
