"""The systems, loaded together and measured in turns.

Every system of a model and precision is loaded at once; each point is then measured --repeat
times, in rounds that measure every system once, in an order rotated each round (A B, B A, ...).
A slow drift of the machine (other tenants' steal time, thermal state) then lands on every system
alike, and each round gives a paired ratio: a system's docs/s over the in-process docs/s of the
same round. Only one system runs at a time: the other servers are frozen (SIGSTOP, their whole
process tree) and thawed for their turn; their CPU meanwhile is recorded (it should be nothing).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.bench.gpu_memory import GpuMemory
from benchmarks.bench.in_process import LoadedInProcess, in_process_batch
from benchmarks.bench.overhead import interleaved_overhead
from benchmarks.bench.precision import resolve_precision
from benchmarks.bench.report import row
from benchmarks.bench.servers import LoadedServer
from benchmarks.bench.systems import SYSTEM_KINDS, Loaded, Point
from benchmarks.bench.workloads import Workload


def measure_all(
    workloads: list[Workload], systems: list[str], device: str, args: argparse.Namespace, log_dir: Path
) -> tuple[list[dict], list[dict], list[dict]]:
    """Every workload on every system that runs its kind of model, at each --dtype: the rows, the
    failures, and the seed request's serving overhead where the seed workload ran."""
    by_model: dict[Path, list[Workload]] = {}
    for workload in workloads:  # one server start serves every workload of its model
        by_model.setdefault(workload.model, []).append(workload)
    rows, failures, overheads = [], [], []
    for requested in args.dtype:
        for model, group in by_model.items():
            dtype = resolve_precision(requested, device, model)
            names = "+".join(w.name for w in group)
            loaded: dict[str, Loaded] = {}
            try:
                for system in [s for s in systems if group[0].kind in SYSTEM_KINDS[s]]:
                    print(f"bench: loading {system} / {names} / {dtype} ...", file=sys.stderr, flush=True)
                    try:
                        loaded[system] = load_system(system, group, device, dtype, args, log_dir)
                    except RuntimeError as exc:  # one system that cannot run does not end the others
                        report_failure(failures, system, names, dtype, exc)
                footprint = {name: system.gpu_mib for name, system in loaded.items()}
                points = measure_in_turns(loaded, group, args, failures, dtype)
                seed = next((w for w in group if w.name == "seed"), None)
                if seed is not None and {"in-process", "server"} <= set(loaded):
                    print(
                        f"bench: seed / {dtype}: in-process and server alternately, one request at a time",
                        file=sys.stderr,
                        flush=True,
                    )
                    loaded["server"].resume()
                    try:
                        overheads.append(
                            {
                                "dtype": dtype,
                                **interleaved_overhead(
                                    loaded["in-process"], loaded["server"], seed, args.seconds * args.repeat
                                ),
                            }
                        )
                    finally:
                        loaded["server"].pause()
            finally:
                for system in loaded.values():
                    system.close()
            by_name = {w.name: w for w in group}
            rows += [
                row(system, by_name[workload], dtype, concurrency, measured, footprint.get(system))
                for (system, workload, concurrency), measured in points.items()
            ]
    return rows, failures, overheads


def load_system(
    system: str, workloads: list[Workload], device: str, dtype: str, args: argparse.Namespace, log_dir: Path
) -> Loaded:
    """``system`` loaded for ``workloads`` (one model) and warmed at each workload's heaviest point.
    Systems load one after another, so each one's device-memory growth is its own."""
    gpu = GpuMemory(device == "cuda")
    with gpu:
        loaded = (
            LoadedInProcess(workloads, device, dtype, in_process_batch(args.in_process_batch, device))
            if system == "in-process"
            else LoadedServer(system, workloads, device, dtype, args, log_dir)
        )
        try:
            for workload in workloads:  # the caching allocator keeps what its heaviest batch reserved
                loaded.measure(workload, max(workload.concurrency), args.warmup)
        except BaseException:
            loaded.close()
            raise
    loaded.pause()  # while the next system loads
    growth = gpu.growth_mib()
    # This process's CUDA context predates the baseline; a server's is inside its growth.
    in_process = system == "in-process"
    loaded.gpu_mib = None if growth is None else growth + (args.cuda_context_mib if in_process else 0)
    return loaded


def report_failure(failures: list[dict], system: str, workloads: str, dtype: str, exc: Exception) -> None:
    failures.append({"system": system, "workloads": workloads, "dtype": dtype, "error": str(exc)})
    print(f"bench: {system} FAILED: {str(exc)[-2000:]}", file=sys.stderr)


def rotated(names: list[str], turn: int) -> list[str]:
    """The measuring order of round ``turn``: each round starts one system later."""
    if not names:
        return []
    shift = turn % len(names)
    return names[shift:] + names[:shift]


def measure_in_turns(
    loaded: dict[str, Loaded], workloads: list[Workload], args: argparse.Namespace, failures: list[dict], dtype: str
) -> dict[tuple[str, str, int], list[Point]]:
    """Every point of ``workloads``, --repeat rounds each, every loaded system once per round (a
    --warmup run before each measured one). A system that fails is reported, closed and dropped."""
    points: dict[tuple[str, str, int], list[Point]] = {}
    for workload in workloads:
        for concurrency in workload.concurrency:
            for turn in range(args.repeat):
                for name in rotated(list(loaded), turn):  # loading order, less those dropped
                    system = loaded[name]
                    others = {n: s for n, s in loaded.items() if n != name}
                    others_before = sum(s.cpu_seconds() for s in others.values())
                    print(
                        f"bench: {name} / {workload.name} / {dtype} / concurrency {concurrency}"
                        f" / round {turn + 1} of {args.repeat}",
                        file=sys.stderr,
                        flush=True,
                    )
                    system.resume()
                    try:
                        system.measure(workload, concurrency, args.warmup)
                        system.reset_peak_rss()  # the peak of this point's measured run, from where it stands
                        point = system.measure(workload, concurrency, args.seconds)
                        point.peak_rss_mib = system.peak_rss_mib()
                    except RuntimeError as exc:  # one system that cannot run does not end the others
                        report_failure(failures, name, workload.name, dtype, exc)
                        loaded.pop(name).close()
                        continue
                    finally:
                        if name in loaded:
                            system.pause()
                    point.turn = turn
                    point.others_cpu_s = sum(s.cpu_seconds() for s in others.values()) - others_before
                    points.setdefault((name, workload.name, concurrency), []).append(point)
    return points
