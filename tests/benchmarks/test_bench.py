"""benchmarks/bench.py and its load generator: the side-by-side run end to end on tiny settings, the
ratios computed from what was measured, and the raw HTTP client's reading of answers. Speed is
never asserted: the benchmark measures it."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
from benchmarks import bench, loadgen
from benchmarks import model_shapes as bench_models

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
    bench.add_ratios(rows)
    assert [r["ratio_to_in_process"] for r in rows] == [1.0, 0.99, 0.5, None, None]
    assert [r["ratio_range"] for r in rows] == [[1.0, 1.0], [0.95, 1.05], [0.5, 0.5], None, None]


def test_a_row_takes_the_median_round_and_pools_latencies_cpu_and_errors():
    workload = bench.Workload("cross-encoder", "cross-encoder", Path("m"), [], [4])
    points = [
        bench.Point(10.0, 1000, [0.1, 0.3], client_cpu_s=0.1, server_cpu_s=15.0, others_cpu_s=0.0, turn=0),
        bench.Point(
            10.0, 3000, [0.2], client_cpu_s=0.2, server_cpu_s=18.0, others_cpu_s=0.5, turn=1, errors={"status 429": 2}
        ),
        bench.Point(
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
    r = bench.row("server", workload, "float32", 4, points, gpu_mib=512)
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
    assert bench.row("server", workload, "float32", 4, points)["peak_rss_mib"] == 1200.0  # the largest round's


def test_a_systems_peak_rss_is_reset_before_a_run_and_read_after_it():
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("reads peak RSS from /proc")

    class ThisProcess(bench.Loaded):
        def processes(self):
            return [os.getpid()]

    system = ThisProcess()
    held = b"x" * (256 * 2**20)  # written: resident
    with_held = system.peak_rss_mib()
    del held  # a large block goes back to the system at once
    system.reset_peak_rss()
    after_reset = system.peak_rss_mib()
    assert after_reset <= with_held - 200  # the peak starts again from what is resident now
    held = b"x" * (128 * 2**20)
    assert system.peak_rss_mib() >= after_reset + 120
    del held
    assert bench.Loaded().peak_rss_mib() is None  # no processes: not measured


class _Fake(bench.Loaded):
    """A loaded system whose measurements are recorded, not made."""

    def __init__(self, name: str, log: list, fail_in_round: int | None = None, idle_cpu: float = 0.0):
        self.name, self.log, self.fail_in_round, self.idle_cpu = name, log, fail_in_round, idle_cpu
        self.cpu, self.closed, self.measured, self.paused = 0.0, False, 0, True

    def measure(self, workload, concurrency, seconds):
        self.log.append((self.name, concurrency, seconds))
        assert not self.paused and all(other.paused for other in _Fake.everyone if other is not self)
        if seconds == 1.0:
            self.measured += 1
            if self.measured == self.fail_in_round:
                raise RuntimeError("server exited")
        for other in _Fake.everyone:
            if other is not self:
                other.cpu += other.idle_cpu
        return bench.Point(seconds, 10, [0.01])

    def cpu_seconds(self):
        return self.cpu

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def close(self):
        self.closed = self.paused = True  # stopped: takes nothing any more


def test_systems_are_measured_in_turns_a_rotated_order_each_round_the_others_frozen_and_a_failing_one_dropped():
    log: list = []
    _Fake.everyone = [
        _Fake("in-process", log),
        _Fake("server", log, idle_cpu=0.25),
        _Fake("vllm", log, fail_in_round=2),
    ]
    loaded = {fake.name: fake for fake in _Fake.everyone}
    workload = bench.Workload("cross-encoder", "cross-encoder", Path("m"), [], [1, 16])
    args = argparse.Namespace(repeat=3, warmup=0.5, seconds=1.0)
    failures: list = []
    points = bench.measure_in_turns(loaded, [workload], args, failures, "float32")

    measured = [(name, concurrency) for name, concurrency, seconds in log if seconds == 1.0]
    assert measured == [
        ("in-process", 1),
        ("server", 1),
        ("vllm", 1),  # round 1
        ("server", 1),
        ("vllm", 1),
        ("in-process", 1),  # round 2, rotated by one: vllm fails
        ("in-process", 1),
        ("server", 1),  # round 3: the two left, rotated by two
        ("in-process", 16),
        ("server", 16),
        ("server", 16),
        ("in-process", 16),
        ("in-process", 16),
        ("server", 16),
    ]
    assert all(warm == (name, c, 0.5) for warm, (name, c, s) in zip(log, log[1:]) if s == 1.0)  # warm-up first
    assert [p.turn for p in points[("server", "cross-encoder", 1)]] == [0, 1, 2]
    assert [p.turn for p in points[("vllm", "cross-encoder", 1)]] == [0]
    assert ("vllm", "cross-encoder", 16) not in points
    assert failures == [{"system": "vllm", "workloads": "cross-encoder", "dtype": "float32", "error": "server exited"}]
    assert _Fake.everyone[2].closed and "vllm" not in loaded
    assert all(fake.paused for fake in _Fake.everyone[:2])  # frozen again after their turns
    # The idle server's CPU while another system was measured (warm-up and measured run) is recorded.
    assert points[("in-process", "cross-encoder", 1)][0].others_cpu_s == 0.5
    assert points[("server", "cross-encoder", 1)][0].others_cpu_s == 0.0


def test_in_process_latency_of_a_call_counts_for_each_request_it_scored():
    class Engine(bench.InProcess):
        def __init__(self):  # no model: score() stands in
            self.device = "cpu"

        def score(self, bodies):
            return sum(len(b["documents"]) for b in bodies)

    bodies = [loadgen.distinct_rerank_body(3, 5, seed) for seed in range(4)]
    point = Engine().run(bodies, concurrency=4, seconds=0.05)
    assert point.documents == 3 * len(point.latencies)
    assert len(point.latencies) % 4 == 0


def test_in_process_batches_by_the_library_default_on_cpu_and_all_at_once_on_cuda():
    calls = []

    class Library:  # records what sentence-transformers was asked for
        def predict(self, pairs, batch_size, show_progress_bar):
            calls.append((len(pairs), batch_size))

    engine = bench.InProcess.__new__(bench.InProcess)
    engine.kind, engine.model = "cross-encoder", Library()
    bodies = [loadgen.distinct_rerank_body(20, 5, seed) for seed in range(16)]
    for requested, device in (("auto", "cpu"), ("auto", "cuda"), ("all", "cpu"), ("8", "cuda")):
        engine.batch = bench.in_process_batch(requested, device)
        assert engine.score(bodies) == 320
    assert calls == [(320, 32), (320, 320), (320, 320), (320, 8)]
    assert bench.in_process_batch("auto", "cpu") == bench.LIBRARY_BATCH == 32
    with pytest.raises(SystemExit):
        bench.parse_args(["--in-process-batch", "0"])


def test_benchmark_bodies_are_distinct_and_reproducible():
    first = [loadgen.distinct_rerank_body(20, 30, seed) for seed in range(50)]
    documents = [d for body in first for d in body["documents"]]
    assert len(set(documents)) == len(documents) == 1000
    assert all(len(d.split()) == 30 for d in documents)
    assert first[7] == loadgen.distinct_rerank_body(20, 30, 7)


def test_the_cross_encoder_shapes_are_the_models_they_stand_for():
    _, minilm = bench_models.SHAPES["minilm-l6"]
    assert (
        minilm["num_hidden_layers"],
        minilm["hidden_size"],
        minilm["num_attention_heads"],
        minilm["intermediate_size"],
        minilm["vocab_size"],
    ) == (6, 384, 12, 1536, 30522)
    architecture, bge = bench_models.SHAPES["bge-reranker-base"]
    assert architecture == "xlm-roberta"
    assert (
        bge["num_hidden_layers"],
        bge["hidden_size"],
        bge["num_attention_heads"],
        bge["intermediate_size"],
        bge["vocab_size"],
        bge["max_position_embeddings"],
    ) == (12, 768, 12, 3072, 250002, 514)


def test_tiny_xlm_roberta_stand_in_tokenizes_each_benchmark_word_as_one_token(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    path = bench_models.cross_encoder("tiny-xlm-roberta", cache=tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert AutoConfig.from_pretrained(path).architectures == ["XLMRobertaForSequenceClassification"]
    document = " ".join(loadgen.VOCABULARY[:30])
    assert len(tokenizer(document, add_special_tokens=False)["input_ids"]) == 30
    pair = tokenizer("what is it", "a city")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(pair)[:1] == ["<s>"] and pair.count(tokenizer.sep_token_id) == 3
    assert bench_models.cross_encoder("tiny-xlm-roberta", cache=tmp_path) == path  # cached


def _read(raw: bytes) -> tuple[int, bytes]:
    async def read():
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await loadgen._read_response(reader)

    return asyncio.run(read())


def test_the_load_generator_reads_sized_and_chunked_answers():
    assert _read(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 2\r\n\r\n{}") == (200, b"{}")
    chunked = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    assert _read(chunked) == (429, b"abcde")


def test_a_request_is_serialized_once_with_its_length():
    request = loadgen.post_request("http://127.0.0.1:9/x", "/v1/rerank", {"query": "q", "documents": ["a", "b"]})
    head, _, body = request.wire.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/rerank HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"query": "q", "documents": ["a", "b"]} and request.documents == 2


def test_gpu_memory_is_the_peak_growth_over_the_baseline_read_from_nvidia_smi(tmp_path, monkeypatch):
    reading = tmp_path / "used"
    reading.write_text("1000\n")
    (tmp_path / "nvidia-smi").write_text(f"#!/bin/sh\ncat {reading}\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    gpu = bench.GpuMemory(enabled=True)
    assert gpu.baseline == 1000
    with gpu:
        reading.write_text("1800\n")
        deadline = time.monotonic() + 10
        while gpu.growth_mib() != 800 and time.monotonic() < deadline:
            time.sleep(0.05)
        reading.write_text("1200\n")
        time.sleep(0.6)
    assert gpu.growth_mib() == 800  # the peak, not the last reading
    assert bench.GpuMemory(enabled=False).growth_mib() is None


# --- the varied and LLM workloads, the comparisons and the plot -----------------------------------


def test_varied_bodies_draw_log_uniform_lengths_between_the_bounds_and_are_reproducible():
    from benchmarks import workloads

    bodies = [workloads.varied_rerank_body(20, seed) for seed in range(200)]
    lengths = sorted(len(d.split()) for body in bodies for d in body["documents"])
    shortest, longest = workloads.VARIED_WORDS
    assert lengths[0] >= shortest and lengths[-1] <= longest
    # Log-uniform in 8-300: the median near the geometric mean (49), the mean near 81.
    assert 40 <= statistics.median(lengths) <= 60 and 70 <= statistics.mean(lengths) <= 92
    assert bodies[3] == workloads.varied_rerank_body(20, 3)
    instructed = workloads.instructed_rerank_body(20, 3)
    assert instructed["documents"] == bodies[3]["documents"] and 90 <= len(instructed["instruction"].split()) <= 120


def test_the_llm_stand_in_is_a_qwen3_reranker_whose_words_are_one_token_each(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from benchmarks import workloads

    path = bench_models.llm_reranker("tiny-qwen3", cache=tmp_path)
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "qwen3" and config.architectures == ["Qwen3ForCausalLM"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    document = " ".join(loadgen.VOCABULARY[:50])
    assert len(tokenizer(" " + document)["input_ids"]) == 50
    assert all(tokenizer.convert_tokens_to_ids(t) != tokenizer.unk_token_id for t in ("yes", "no", "<|im_start|>"))
    assert len(tokenizer(workloads.INSTRUCTION)["input_ids"]) < 1.25 * len(workloads.INSTRUCTION.split())
    full = bench_models.LLM_SHAPES["qwen3-reranker-0.6b"]
    assert (
        full["num_hidden_layers"],
        full["hidden_size"],
        full["num_attention_heads"],
        full["num_key_value_heads"],
        full["intermediate_size"],
        full["vocab_size"],
    ) == (28, 1024, 16, 8, 3072, 151669)


def test_paired_ratios_compare_each_round_with_the_same_round_of_the_base():
    point = {"workload": "varied", "dtype": "bfloat16", "concurrency": 16}
    rows = [
        {**point, "system": "server", "runs": _runs(150.0, 160.0, 120.0)},
        {**point, "system": "vllm", "runs": _runs(100.0, 200.0, 100.0)},  # 1.5, 0.8, 1.2
        {**point, "workload": "llm", "system": "server", "runs": _runs(30.0)},
        {**point, "workload": "llm", "system": "server-no-prefix-reuse", "runs": _runs(20.0)},
        {**point, "workload": "embedding", "system": "server", "runs": _runs(10.0)},  # not compared
    ]
    found = {(c["system"], c["base"], c["workload"]): c for c in bench.paired_ratios(rows)}
    assert set(found) == {("server", "vllm", "varied"), ("server", "server-no-prefix-reuse", "llm")}
    assert found[("server", "vllm", "varied")]["ratio"] == 1.2
    assert found[("server", "vllm", "varied")]["range"] == [0.8, 1.5]
    assert found[("server", "server-no-prefix-reuse", "llm")]["ratio"] == 1.5


def test_the_plot_has_a_panel_per_workload_and_precision(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from benchmarks import plot

    rows = [
        {"system": s, "workload": w, "dtype": "bfloat16", "concurrency": c, "docs_per_s": 10.0 * c}
        for s in ("in-process", "server")
        for w in ("cross-encoder", "varied")
        for c in (1, 16)
    ]
    path = plot.write_plot(rows, tmp_path / "bench.png", {"cpu": "test CPU", "cpus_visible": 2, "device": "cpu"})
    with Image.open(path) as image:
        width, height = image.size
    assert image.format == "PNG" and width > 1.5 * height  # two panels side by side


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
