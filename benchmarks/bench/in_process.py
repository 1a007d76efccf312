"""The in-process ceiling: sentence-transformers in this process, at the server's precision and
thread count, scoring the requests of C clients in one library call."""

from __future__ import annotations

import gc
import os
import time

from benchmarks.bench.systems import Loaded, Point
from benchmarks.bench.workloads import Workload

# sentence-transformers' default batch size. On CPU it beat one batch of all 320 pairs (16 requests
# of 20) by 10-20% on both workloads (2-core EPYC): large batches fall out of the caches. A GPU
# wants the large batch.
LIBRARY_BATCH = 32


def in_process_batch(requested: str, device: str) -> int | None:
    """Pairs (or texts) per in-process model batch; None: all of a call's in one batch."""
    if requested == "auto":
        return LIBRARY_BATCH if device == "cpu" else None
    return None if requested == "all" else int(requested)


def use_server_threads() -> None:
    """In-process torch on as many threads as the server uses (its cgroup-quota rule)."""
    try:
        import torch

        from reranker.engine.cpu_threads import compute_threads, cpu_quota

        torch.set_num_threads(compute_threads(cpu_quota()))
    except ImportError:
        pass


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


class LoadedInProcess(Loaded):
    def __init__(self, workloads: list[Workload], device: str, dtype: str, batch: int | None):
        self.engine = InProcess(workloads[0], device, dtype, batch)  # one model, so one kind

    def measure(self, workload: Workload, concurrency: int, seconds: float) -> Point:
        return self.engine.run(workload.bodies, concurrency, seconds)

    def processes(self) -> list[int]:
        return [os.getpid()]  # the benchmark's own process: the engine, and the bodies of every workload

    def close(self) -> None:
        self.engine.close()
