"""The rows from what the rounds measured: medians of rounds, pooled latencies, and ratios paired
round by round."""

from __future__ import annotations

from pathlib import Path

from benchmarks.bench import report
from benchmarks.bench.systems import Point
from benchmarks.bench.workloads import Workload


def _runs(*docs_per_s: float | None) -> list[dict]:
    return [{"round": i + 1, "docs_per_s": v} for i, v in enumerate(docs_per_s) if v is not None]


def test_a_ratio_is_the_median_of_each_rounds_docs_per_second_over_the_in_process_figure_of_that_round():
    point = {"workload": "cross-encoder", "dtype": "float32", "concurrency": 16}
    rows = [
        {**point, "system": "in-process", "runs": _runs(200.0, 100.0, 160.0)},  # the machine drifted
        {**point, "system": "server", "runs": _runs(190.0, 99.0, 168.0)},  # 0.95, 0.99, 1.05
        {**point, "system": "vllm", "runs": _runs(None, 50.0, 80.0)},  # failed in round 1: pairs 2 and 3 only
        {**point, "system": "server", "dtype": "bfloat16", "runs": _runs(400.0)},  # no ceiling at that dtype
        {**point, "system": "vllm", "concurrency": 1, "runs": _runs(50.0)},  # nor at that concurrency
    ]
    report.add_ratios(rows)
    assert [r["ratio_to_in_process"] for r in rows] == [1.0, 0.99, 0.5, None, None]
    assert [r["ratio_range"] for r in rows] == [[1.0, 1.0], [0.95, 1.05], [0.5, 0.5], None, None]


def test_a_row_takes_the_median_round_and_pools_latencies_cpu_and_errors():
    workload = Workload("cross-encoder", "cross-encoder", Path("m"), [], [4])
    points = [
        Point(10.0, 1000, [0.1, 0.3], client_cpu_s=0.1, server_cpu_s=15.0, others_cpu_s=0.0, turn=0),
        Point(
            10.0, 3000, [0.2], client_cpu_s=0.2, server_cpu_s=18.0, others_cpu_s=0.5, turn=1, errors={"status 429": 2}
        ),
        Point(
            10.0,
            2000,
            [0.4, 0.5],
            client_cpu_s=0.3,
            server_cpu_s=17.0,
            others_cpu_s=0.1,
            turn=2,
            errors={"status 429": 1, "OSError": 1},
        ),
    ]
    r = report.row("server", workload, "float32", 4, points, gpu_mib=512)
    assert r["runs"] == [
        {"round": 1, "docs_per_s": 100.0},
        {"round": 2, "docs_per_s": 300.0},
        {"round": 3, "docs_per_s": 200.0},
    ]
    assert r["docs_per_s"] == 200.0  # the median round, not the mean of a skewed set
    assert (r["requests"], r["documents"], r["seconds"]) == (5, 6000, 30.0)
    assert (r["p50_ms"], r["p99_ms"]) == (300.0, 500.0)  # nearest rank over all five latencies
    assert (r["client_cpu_pct"], r["server_cpu_pct"], r["others_cpu_pct"]) == (2.0, 166.7, 2.0)
    assert r["errors"] == {"status 429": 3, "OSError": 1}
    assert r["gpu_mib"] == 512
    assert r["peak_rss_mib"] is None  # none measured
    points[1].peak_rss_mib, points[2].peak_rss_mib = 900.0, 1200.0
    assert report.row("server", workload, "float32", 4, points)["peak_rss_mib"] == 1200.0  # the largest round's


def test_paired_ratios_compare_each_round_with_the_same_round_of_the_base():
    point = {"workload": "varied", "dtype": "bfloat16", "concurrency": 16}
    rows = [
        {**point, "system": "server", "runs": _runs(150.0, 160.0, 120.0)},
        {**point, "system": "vllm", "runs": _runs(100.0, 200.0, 100.0)},  # 1.5, 0.8, 1.2
        {**point, "workload": "llm", "system": "server", "runs": _runs(30.0)},
        {**point, "workload": "llm", "system": "server-no-prefix-reuse", "runs": _runs(20.0)},
        {**point, "workload": "embedding", "system": "server", "runs": _runs(10.0)},  # not compared
    ]
    found = {(c["system"], c["base"], c["workload"]): c for c in report.paired_ratios(rows)}
    assert set(found) == {("server", "vllm", "varied"), ("server", "server-no-prefix-reuse", "llm")}
    assert found[("server", "vllm", "varied")]["ratio"] == 1.2
    assert found[("server", "vllm", "varied")]["range"] == [0.8, 1.5]
    assert found[("server", "server-no-prefix-reuse", "llm")]["ratio"] == 1.5


def test_rows_should_be_ordered_by_workload_precision_system_and_concurrency_as_the_flags_list_them():
    rows = [
        {"workload": w, "dtype": d, "system": s, "concurrency": c}
        for w in ("seed", "cross-encoder")
        for d in ("float32", "bfloat16")
        for s in ("vllm", "server", "in-process")
        for c in (16, 1)
    ]
    report.sort_rows(rows)
    assert [(r["workload"], r["dtype"], r["system"], r["concurrency"]) for r in rows[:4]] == [
        ("cross-encoder", "bfloat16", "in-process", 1),
        ("cross-encoder", "bfloat16", "in-process", 16),
        ("cross-encoder", "bfloat16", "server", 1),
        ("cross-encoder", "bfloat16", "server", 16),
    ]
    assert [r["workload"] for r in rows] == ["cross-encoder"] * 12 + ["seed"] * 12
    assert [r["system"] for r in rows[4:8]] == ["vllm", "vllm", "in-process", "in-process"]
