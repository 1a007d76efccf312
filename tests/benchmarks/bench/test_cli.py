"""python -m benchmarks.bench end to end on tiny settings: every system on the same requests, the
table, the JSON report and its plot. Speed is never asserted: the benchmark measures it."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

ROW_KEYS = {
    "system",
    "workload",
    "dtype",
    "concurrency",
    "requests",
    "documents",
    "seconds",
    "docs_per_s",
    "runs",
    "p50_ms",
    "p99_ms",
    "ratio_to_in_process",
    "ratio_range",
    "ceiling_docs_per_s",
    "share_of_ceiling",
    "client_cpu_pct",
    "server_cpu_pct",
    "others_cpu_pct",
    "peak_rss_mib",
    "gpu_mib",
    "gpu_peak_alloc_mib",
    "errors",
}


@pytest.mark.slow
def test_bench_measures_in_process_and_the_server_on_the_same_requests_and_writes_json(tmp_path):
    report_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench",
            "--systems",
            "in-process",
            "server",
            "--workloads",
            "cross-encoder",
            "seed",
            "--shape",
            "tiny",
            "--dtype",
            "float32",
            "--concurrency",
            "1",
            "3",
            "--documents",
            "4",
            "--words",
            "10",
            "--seconds",
            "1",
            "--repeat",
            "2",
            "--warmup",
            "0.2",
            "--log-dir",
            str(tmp_path / "logs"),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env={**_env(), "BENCH_MODEL_CACHE": str(tmp_path / "models")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())

    assert {"cpu", "cpus_visible", "cpu_flags", "torch", "device"} <= set(report["machine"])
    assert set(report["machine"]["cpu_flags"]) >= {"amx_bf16", "avx512_bf16"}
    assert report["settings"]["tokens_per_document"]["cross-encoder"] == 10  # one token per word
    assert report["failures"] == []
    # The seed request alternately in-process and through the server: paired differences.
    [overhead] = report["seed_overhead"]
    # How many pairs fit in the time depends on the machine and its load: at least one was measured.
    assert overhead["dtype"] == "float32" and overhead["workload"] == "seed" and overhead["pairs"] >= 1
    assert overhead["server_p50_ms"] > 0 and overhead["in_process_p50_ms"] > 0
    assert overhead["overhead_ms"]["p25"] <= overhead["overhead_ms"]["p50"] <= overhead["overhead_ms"]["p75"]
    assert f"one at a time alternately ({overhead['pairs']} pairs)" in result.stdout
    rows = report["rows"]
    assert all(set(r) == ROW_KEYS for r in rows)
    # Every figure beside the machine's limit, measured in the same run.
    assert report["settings"]["matmul_peak_gflops"]["float32"] > 0
    assert all(r["ceiling_docs_per_s"] > 0 and r["share_of_ceiling"] > 0 for r in rows)
    assert "ceiling: docs/s at the matmul peak measured in this run" in result.stdout
    assert {(r["system"], r["workload"], r["concurrency"]) for r in rows} == {
        ("in-process", "cross-encoder", 1),
        ("in-process", "cross-encoder", 3),
        ("in-process", "seed", 1),
        ("server", "cross-encoder", 1),
        ("server", "cross-encoder", 3),
        ("server", "seed", 1),
    }
    by_key = {(r["system"], r["workload"], r["concurrency"]): r for r in rows}
    for r in rows:
        assert r["requests"] > 0 and r["documents"] > 0 and r["errors"] is None
        assert [run["round"] for run in r["runs"]] == [1, 2]  # --repeat 2: each system measured twice
        assert r["docs_per_s"] == pytest.approx(statistics.median(run["docs_per_s"] for run in r["runs"]), abs=0.06)
        assert r["seconds"] >= 2  # two rounds of --seconds 1
        assert r["p99_ms"] >= r["p50_ms"] > 0
        ceiling = {
            run["round"]: run["docs_per_s"] for run in by_key[("in-process", r["workload"], r["concurrency"])]["runs"]
        }
        paired = [run["docs_per_s"] / ceiling[run["round"]] for run in r["runs"]]
        assert r["ratio_to_in_process"] == pytest.approx(statistics.median(paired), abs=1e-3)
        assert r["ratio_range"] == [pytest.approx(min(paired), abs=1e-3), pytest.approx(max(paired), abs=1e-3)]
        assert r["documents"] == r["requests"] * 4  # --documents 4; the seed request has 4 too
        assert r["others_cpu_pct"] == 0.0  # the server is frozen while in-process is measured
        assert r["peak_rss_mib"] > 100  # a process with torch and a model loaded
    # Both systems were loaded together and measured in turns, each round in a rotated order.
    turns = [line for line in result.stderr.splitlines() if "/ round " in line]
    assert turns[:4] == [
        "bench: in-process / cross-encoder / float32 / concurrency 1 / round 1 of 2",
        "bench: server / cross-encoder / float32 / concurrency 1 / round 1 of 2",
        "bench: server / cross-encoder / float32 / concurrency 1 / round 2 of 2",
        "bench: in-process / cross-encoder / float32 / concurrency 1 / round 2 of 2",
    ]
    assert sum("loading server" in line for line in result.stderr.splitlines()) == 1  # one start per model
    assert by_key[("server", "seed", 1)]["client_cpu_pct"] is not None  # the load generator's own cost
    assert by_key[("in-process", "seed", 1)]["client_cpu_pct"] is None  # no load generator there
    # The table: one line per row, systems by name, the ratio column.
    assert "x in-proc" in result.stdout and result.stdout.count("our server (torch)") == 3
    assert "rounds' range" in result.stdout and "the median of 2 rounds" in result.stdout
    assert "peak RSS MiB" in result.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RERANKER_")}


@pytest.mark.slow
def test_bench_runs_the_varied_and_llm_workloads_and_plots_them(tmp_path):
    report_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.bench",
            "--systems",
            "server",
            "server-no-prefix-reuse",
            "--workloads",
            "varied",
            "llm",
            "--shape",
            "tiny",
            "--llm-shape",
            "tiny-qwen3",
            "--dtype",
            "float32",
            "--concurrency",
            "2",
            "--llm-concurrency",
            "1",
            "--documents",
            "4",
            "--seconds",
            "1",
            "--repeat",
            "1",
            "--warmup",
            "0.2",
            "--log-dir",
            str(tmp_path / "logs"),
            "--json",
            str(report_path),
        ],
        capture_output=True,
        text=True,
        timeout=400,
        cwd=ROOT,
        env={**_env(), "BENCH_MODEL_CACHE": str(tmp_path / "models")},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(report_path.read_text())
    # The no-reuse variant runs the LLM workload only; the cross-encoder model is served once.
    assert {(r["system"], r["workload"]) for r in report["rows"]} == {
        ("server", "varied"),
        ("server", "llm"),
        ("server-no-prefix-reuse", "llm"),
    }
    [comparison] = report["comparisons"]
    assert (comparison["system"], comparison["base"], comparison["workload"]) == (
        "server",
        "server-no-prefix-reuse",
        "llm",
    )
    assert comparison["ratio"] > 0
    assert report["settings"]["varied_words"] == [8, 300] and report["settings"]["llm_shape"] == "tiny-qwen3"
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "no prefix reuse, llm" in result.stdout


def test_the_package_should_run_as_a_module_and_describe_its_flags():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bench.py ")
    assert "Side-by-side benchmark" in result.stdout and "--in-process-batch" in result.stdout
