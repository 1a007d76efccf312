"""The benchmark's command line (python -m benchmarks.bench): its flags, and a run from them:
every system measured in rounds, the table printed, the JSON report written."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import benchmarks.bench
from benchmarks import model_shapes
from benchmarks.bench import ceiling, report, rounds, table
from benchmarks.bench.gpu_memory import measure_cuda_context
from benchmarks.bench.machine import machine_info
from benchmarks.bench.servers import vllm_python
from benchmarks.bench.systems import SYSTEMS
from benchmarks.bench.workloads import WORKLOADS, build_workloads
from harness.server_process import raise_open_files_limit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        # The usage line's name as it was before bench.py became this package (python -m runs
        # __main__.py, which argparse would name).
        prog="bench.py",
        description=benchmarks.bench.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--systems",
        nargs="+",
        choices=SYSTEMS,
        default=list(SYSTEMS),
        help="Systems to measure (default: all; vllm and server-vllm only where --vllm-venv exists).",
    )
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument(
        "--shape",
        choices=sorted(model_shapes.SHAPES),
        default="minilm-l6",
        help="The random-weight cross-encoder's shape (default: %(default)s).",
    )
    parser.add_argument(
        "--dtype",
        nargs="+",
        default=["auto"],
        choices=["auto", "float32", "float16", "bfloat16"],
        help="Precisions, each measured on every system (default: auto, resolved by the server's rule).",
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="Default: %(default)s.")
    parser.add_argument(
        "--seconds", type=float, default=10, help="Measured seconds per point and round (default: %(default)s)."
    )
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=3,
        help="Rounds: each point is measured this many times per system, the systems in turn "
        "(default: %(default)s); the table gives medians.",
    )
    parser.add_argument(
        "--warmup", type=float, default=2, help="Warm-up seconds before each measured run (default: %(default)s)."
    )
    parser.add_argument(
        "--llm-shape",
        choices=sorted(model_shapes.LLM_SHAPES),
        default="qwen3-reranker-0.6b-4-layers",
        help="The llm workload's random-weight Qwen3-Reranker shape (default: %(default)s).",
    )
    parser.add_argument(
        "--llm-concurrency",
        type=int,
        nargs="+",
        default=[1, 4],
        help="The llm workload's concurrencies (default: %(default)s).",
    )
    parser.add_argument("--documents", type=int, default=20, help="Documents per request (default: %(default)s).")
    parser.add_argument(
        "--words",
        type=int,
        default=30,
        help="Words (= tokens) per document of the uniform workloads (default: %(default)s).",
    )
    parser.add_argument(
        "--in-process-batch",
        type=_batch_choice,
        default="auto",
        help="Pairs (texts) per in-process model batch: a number, all (the C requests' "
        "in one batch) or auto (default: %(default)s: 32, the library's default, "
        "on CPU; all on CUDA).",
    )
    parser.add_argument("--server-args", default="", help="More flags for our server (both backends).")
    parser.add_argument("--vllm-args", default="", help="More flags for `vllm serve`.")
    parser.add_argument("--vllm-venv", default=".venv-vllm", help="vLLM's environment (default: %(default)s).")
    parser.add_argument("--ready-timeout", type=float, default=600, help="Seconds a server may take to load.")
    parser.add_argument("--log-dir", type=Path, help="Keep the servers' logs here (default: a temporary folder).")
    parser.add_argument("--json", type=Path, metavar="FILE", help="Write every row and the machine's description.")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _batch_choice(text: str) -> str:
    if text in ("auto", "all") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"must be auto, all or a positive number, not {text!r}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    vllm = vllm_python(args.vllm_venv)
    systems = [s for s in args.systems if not s.endswith("vllm") or vllm.exists()]
    for skipped in sorted(set(args.systems) - set(systems)):
        print(f"bench: {skipped}: no {args.vllm_venv} (make setup-vllm), skipped", file=sys.stderr)
    log_dir = args.log_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-logs-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    raise_open_files_limit()
    args.cuda_context_mib = measure_cuda_context() if device == "cuda" else 0.0

    workloads = build_workloads(args)
    rows, failures, overheads = rounds.measure_all(workloads, systems, device, args, log_dir)
    report.sort_rows(rows)
    report.add_ratios(rows)
    limits, peaks = ceiling.ceilings(workloads, {r["dtype"] for r in rows}, device)
    report.add_ceilings(rows, limits)

    table.print_table(rows, gpu=device == "cuda", repeat=args.repeat)
    comparisons = report.paired_ratios(rows)
    table.print_comparisons(comparisons)
    table.print_overheads(overheads)
    if args.json:
        machine = machine_info(device, vllm if any(s.endswith("vllm") for s in systems) else None)
        run_settings = report.settings(args, workloads, device)
        run_settings["matmul_peak_gflops"] = {dtype: round(peak / 1e9, 1) for dtype, peak in peaks.items()}
        report.write_report(args.json, machine, run_settings, rows, comparisons, overheads, failures)
    return 1 if failures else 0
