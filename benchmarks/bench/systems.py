"""The systems a run compares, the kinds of model each can run, and what rounds.py measures them
through: the Loaded interface, and the Point one measured run gives."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from benchmarks.bench.workloads import Workload
from harness.peak_memory import peak_rss, reset_peak

SYSTEMS = ("in-process", "server", "server-no-prefix-reuse", "vllm", "server-vllm")
LABELS = {
    "in-process": "sentence-transformers in-process",
    "server": "our server (torch)",
    "server-no-prefix-reuse": "our server (torch), no prefix reuse",
    "vllm": "vLLM serve",
    "server-vllm": "our server (vLLM engine)",
}
# Which systems run which kind of model: sentence-transformers has no causal-LM reranker, and the
# no-reuse variant only differs on LLM rerankers. vLLM serves the LLM reranker only through our
# server's vLLM engine (`vllm serve` would need the model's classifier-from-token overrides).
SYSTEM_KINDS = {
    "in-process": {"cross-encoder", "embedding"},
    "server": {"cross-encoder", "embedding", "llm"},
    "server-no-prefix-reuse": {"llm"},
    "vllm": {"cross-encoder", "embedding"},
    "server-vllm": {"cross-encoder", "embedding", "llm"},
}


@dataclass
class Point:
    """One measured point: what the load saw, and what it cost."""

    seconds: float
    documents: int
    latencies: list[float]  # sorted
    client_cpu_s: float | None = None  # the load generator's
    server_cpu_s: float | None = None  # the server's process tree, or the in-process engine's
    gpu_peak_alloc_mib: float | None = None
    errors: dict | None = None
    turn: int = 0  # the round it was measured in (each round measures every system once)
    others_cpu_s: float | None = None  # what the other loaded servers used meanwhile (idle: ~0)
    peak_rss_mib: float | None = None  # the system's peak resident memory over the run (see Loaded.peak_rss_mib)


class Loaded:
    """One loaded system: measures a point, tells its CPU time so far, closes."""

    gpu_mib: float | None = None  # device memory it took, loaded and warmed at its heaviest point

    def measure(self, workload: Workload, concurrency: int, seconds: float) -> Point:
        raise NotImplementedError

    def cpu_seconds(self) -> float:
        return 0.0  # the in-process engine: this process, which also runs the load generator

    def processes(self) -> list[int]:
        """The processes whose memory is the system's (none: not measured)."""
        return []

    def reset_peak_rss(self) -> None:
        """Start a new peak: each process's VmHWM set to its resident memory now."""
        for pid in self.processes():
            with contextlib.suppress(OSError):  # gone, or no /proc (not Linux)
                reset_peak(pid)

    def peak_rss_mib(self) -> float | None:
        """The sum of the processes' VmHWM since ``reset_peak_rss`` (a vLLM server's engine runs
        in a child process: the sum bounds the tree's peak from above), or None where unreadable."""
        try:
            peaks = [peak_rss(pid) for pid in self.processes()]
        except (OSError, KeyError):
            return None
        return round(sum(peaks) / 2**20) if peaks else None

    def pause(self) -> None:
        """Take nothing from the machine while another system is measured."""

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass
