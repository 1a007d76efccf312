"""How many torch threads the torch engine runs on a CPU, and how model workers share them.

Sized by the pod's CPU limit (its cgroup quota), not by the node's cores; with several model
workers each worker's thread gets its own share of those threads.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs the container may use by its cgroup quota (v2 ``cpu.max`` or v1 CFS), if limited."""
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((cgroup_root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def compute_threads(quota: float | None) -> int:
    """Torch threads for CPU inference: the pod's CPU limit, not the node's core count.

    Torch sizes its pool by the cores it sees; in a pod limited to 2 CPUs on a 64-core node that
    is 64 threads throttled by the quota, many times slower than 2.
    """
    visible = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(visible, math.ceil(quota))) if quota else visible


def model_workers(requested: int | None, device: torch.device, threads: int) -> int:
    """Model batches run at once: --model_workers, or 2 on a CPU with 2 threads or more.

    Within one batch torch parallelises each operation, and between operations (Python, small
    attention calls) its other threads wait: on 2 cores one batch kept them about 85% busy. Two
    batches at once, each on its own thread, fill those gaps; make bench measured it about 10%
    faster on 2 cores. A GPU runs one batch at a time.
    """
    if requested is not None:
        return requested if device.type == "cpu" else 1
    return 2 if device.type == "cpu" and threads >= 2 else 1


def thread_shares(threads: int, workers: int) -> list[int]:
    """Each model worker's torch threads: ``threads`` shared out."""
    return [max(1, threads // workers + (1 if i < threads % workers else 0)) for i in range(workers)]


def worker_threads(threads: int, workers: int) -> Callable[[], None]:
    """Sets each model worker's torch threads (per thread in OpenMP): the threads shared out."""
    shares = thread_shares(threads, workers)
    lock = threading.Lock()

    def init() -> None:
        with lock:
            share = shares.pop() if shares else 1
        # ATen sets a thread's OpenMP count from the process-wide value at that thread's first
        # torch operation, which would undo a share set before it (by then another worker has
        # set the process-wide value to its own share): take that first operation now.
        torch.get_num_threads()
        torch.set_num_threads(share)

    return init
