"""Device memory from nvidia-smi (a stand-in script here): the peak growth over a baseline."""

from __future__ import annotations

import os
import time

from benchmarks.bench.gpu_memory import GpuMemory


def test_gpu_memory_is_the_peak_growth_over_the_baseline_read_from_nvidia_smi(tmp_path, monkeypatch):
    reading = tmp_path / "used"
    reading.write_text("1000\n")
    (tmp_path / "nvidia-smi").write_text(f"#!/bin/sh\ncat {reading}\n")
    (tmp_path / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    gpu = GpuMemory(enabled=True)
    assert gpu.baseline == 1000
    with gpu:
        reading.write_text("1800\n")
        deadline = time.monotonic() + 10
        while gpu.growth_mib() != 800 and time.monotonic() < deadline:
            time.sleep(0.05)
        reading.write_text("1200\n")
        time.sleep(0.6)
    assert gpu.growth_mib() == 800  # the peak, not the last reading
    assert GpuMemory(enabled=False).growth_mib() is None
