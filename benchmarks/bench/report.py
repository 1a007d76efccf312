"""What the rounds measured, as rows: one per system and point (docs/s the median round's,
latencies pooled), each with its paired ratio to in-process, the COMPARISONS between systems, and
the JSON report (--json) with its plot beside it."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from benchmarks import loadgen, varied_bodies
from benchmarks.bench import plot
from benchmarks.bench.in_process import in_process_batch
from benchmarks.bench.systems import SYSTEMS, Point
from benchmarks.bench.workloads import WORKLOADS, Workload, tokens_per_document

# The paired ratios printed under the table: (system, base, workloads).
COMPARISONS = (
    ("server", "vllm", ("cross-encoder", "varied")),
    ("server-vllm", "vllm", ("cross-encoder", "varied")),
    ("server", "server-no-prefix-reuse", ("llm",)),
)


def row(
    system: str, workload: Workload, dtype: str, concurrency: int, points: list[Point], gpu_mib: float | None = None
) -> dict:
    """One system's rounds of one point: docs/s is the median round's, latencies are pooled."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    def pct(part: float | None, whole: float) -> float | None:
        return None if part is None or not whole else round(100 * part / whole, 1)

    def total(values: list[float | None]) -> float | None:
        return None if any(v is None for v in values) else sum(values)

    seconds = sum(p.seconds for p in points)
    latencies = sorted(latency for p in points for latency in p.latencies)
    runs = [
        {"round": p.turn + 1, "docs_per_s": round(p.documents / p.seconds, 1) if p.seconds else 0.0} for p in points
    ]
    errors: dict[str, int] = {}
    for p in points:
        for kind, count in (p.errors or {}).items():
            errors[kind] = errors.get(kind, 0) + count
    peaks = [p.gpu_peak_alloc_mib for p in points if p.gpu_peak_alloc_mib is not None]
    rss_peaks = [p.peak_rss_mib for p in points if p.peak_rss_mib is not None]
    return {
        "system": system,
        "workload": workload.name,
        "dtype": dtype,
        "concurrency": concurrency,
        "requests": len(latencies),
        "documents": sum(p.documents for p in points),
        "seconds": round(seconds, 3),
        "docs_per_s": round(statistics.median(r["docs_per_s"] for r in runs), 1),
        "runs": runs,
        "p50_ms": ms(loadgen.percentile(latencies, 50)),
        "p99_ms": ms(loadgen.percentile(latencies, 99)),
        "client_cpu_pct": pct(total([p.client_cpu_s for p in points]), seconds),
        "server_cpu_pct": pct(total([p.server_cpu_s for p in points]), seconds),
        "others_cpu_pct": pct(total([p.others_cpu_s for p in points]), seconds),
        "peak_rss_mib": max(rss_peaks) if rss_peaks else None,
        "gpu_mib": gpu_mib,
        "gpu_peak_alloc_mib": max(peaks) if peaks else None,
        "errors": errors or None,
    }


def sort_rows(rows: list[dict]) -> None:
    """Workload, precision, system and concurrency, in the order the flags list them."""
    order = {name: i for i, name in enumerate([*WORKLOADS, *SYSTEMS])}
    rows.sort(key=lambda r: (order[r["workload"]], r["dtype"], order[r["system"]], r["concurrency"]))


def add_ratios(rows: list[dict]) -> None:
    """Each row's ratio to in-process: the median over rounds of its docs/s over the in-process
    docs/s of the same round (same workload, dtype and concurrency), with the lowest and highest."""
    ceiling = {(r["workload"], r["dtype"], r["concurrency"]): r for r in rows if r["system"] == "in-process"}
    for r in rows:
        base = ceiling.get((r["workload"], r["dtype"], r["concurrency"]))
        base_runs = {run["round"]: run["docs_per_s"] for run in base["runs"]} if base else {}
        paired = [run["docs_per_s"] / base_runs[run["round"]] for run in r["runs"] if base_runs.get(run["round"])]
        r["ratio_to_in_process"] = round(statistics.median(paired), 3) if paired else None
        r["ratio_range"] = [round(min(paired), 3), round(max(paired), 3)] if paired else None


def add_ceilings(rows: list[dict], limits: dict[tuple[str, str], float]) -> None:
    """Each row's ceiling (docs/s at the measured matmul peak, ceiling.py) and its docs/s as a
    share of it."""
    for r in rows:
        limit = limits.get((r["workload"], r["dtype"]))
        r["ceiling_docs_per_s"] = round(limit, 1) if limit else None
        r["share_of_ceiling"] = round(r["docs_per_s"] / limit, 3) if limit and r["docs_per_s"] is not None else None


def paired_ratios(rows: list[dict]) -> list[dict]:
    """COMPARISONS: for each point both systems measured, the median over rounds of the first's
    docs/s over the second's in the same round, with the lowest and highest."""
    by_key = {(r["system"], r["workload"], r["dtype"], r["concurrency"]): r for r in rows}
    found = []
    for system, base, names in COMPARISONS:
        for r in rows:
            if r["system"] != system or r["workload"] not in names:
                continue
            other = by_key.get((base, r["workload"], r["dtype"], r["concurrency"]))
            base_runs = {run["round"]: run["docs_per_s"] for run in other["runs"]} if other else {}
            paired = [run["docs_per_s"] / base_runs[run["round"]] for run in r["runs"] if base_runs.get(run["round"])]
            if paired:
                found.append(
                    {
                        "system": system,
                        "base": base,
                        "workload": r["workload"],
                        "dtype": r["dtype"],
                        "concurrency": r["concurrency"],
                        "ratio": round(statistics.median(paired), 3),
                        "range": [round(min(paired), 3), round(max(paired), 3)],
                    }
                )
    return found


def settings(args: argparse.Namespace, workloads: list[Workload], device: str) -> dict:
    """The run's settings as the JSON report records them."""
    return {
        "seconds": args.seconds,
        "repeat": args.repeat,
        "warmup": args.warmup,
        "documents": args.documents,
        "words": args.words,
        "shape": args.shape,
        "dtype_requested": args.dtype,
        "varied_words": list(varied_bodies.VARIED_WORDS),
        "llm_shape": args.llm_shape,
        "llm_instruction_words": len(varied_bodies.INSTRUCTION.split()),
        "server_args": args.server_args,
        "vllm_args": args.vllm_args,
        "tokens_per_document": {w.name: tokens_per_document(w) for w in workloads},
        "in_process": "one library call per C requests, in batches of in_process_batch (null: all in one)",
        "in_process_batch": in_process_batch(args.in_process_batch, device),
        "rounds": "every system loaded at once; each round measures each once, order rotated",
    }


def write_report(
    path: Path,
    machine: dict,
    run_settings: dict,
    rows: list[dict],
    comparisons: list[dict],
    overheads: list[dict],
    failures: list[dict],
) -> None:
    """The JSON report at ``path`` and its plot beside it (FILE.png)."""
    report = {
        "machine": machine,
        "settings": run_settings,
        "rows": rows,
        "comparisons": comparisons,
        "seed_overhead": overheads,
        "failures": failures,
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {path}", file=sys.stderr)
    figure = plot.write_plot(rows, path.with_suffix(".png"), machine)
    print(f"bench: wrote {figure}" if figure else "bench: no plot (matplotlib is not installed)", file=sys.stderr)
