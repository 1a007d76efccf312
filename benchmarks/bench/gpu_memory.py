"""Device memory as nvidia-smi reports it: what a system took while it loaded and warmed up, and
what this process's own CUDA context takes."""

from __future__ import annotations

import shutil
import subprocess
import threading


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
