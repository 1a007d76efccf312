"""--dtype auto: bfloat16 on CPUs that compute it natively (AMX, AVX512-BF16), float32 elsewhere,
the model's own half precision on GPU; explicit values always win. The CPU is faked both ways."""

from __future__ import annotations

import asyncio
import logging

import pytest
import torch

from reranker.config import Settings
from reranker.engine import precision
from reranker.engine.model_source import resolve_model
from reranker.engine.precision import Bf16Support, cpu_bf16_support, pick_dtype
from reranker.engine.torch_engine import TorchEngine

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
NO_AVX512 = {"avx2": True, "avx512_f": False, "avx512_bf16": False, "amx_tile": False}
AMX = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_tile": True, "amx_bf16": True}
AVX512_BF16 = {"avx2": True, "avx512_f": True, "avx512_bf16": True, "amx_bf16": False}


@pytest.fixture(autouse=True)
def fresh_probe():
    # The probe is cached for the process; every test asks again.
    cpu_bf16_support.cache_clear()
    yield
    cpu_bf16_support.cache_clear()


def fake_cpu(monkeypatch, capabilities: dict, onednn_bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities, raising=False)
    monkeypatch.setattr(precision, "_onednn_takes_bf16", lambda: onednn_bf16)


def test_should_pick_bfloat16_on_a_cpu_with_amx(monkeypatch, caplog):
    fake_cpu(monkeypatch, AMX)
    with caplog.at_level(logging.INFO, logger=precision.log.name):
        assert pick_dtype("auto", CPU, {}) is torch.bfloat16
    assert "dtype auto: bfloat16 (CPU has AMX)" in caplog.text


def test_should_pick_bfloat16_on_a_cpu_with_avx512_bf16(monkeypatch):
    fake_cpu(monkeypatch, AVX512_BF16)
    assert pick_dtype("auto", CPU, {}) is torch.bfloat16
    assert cpu_bf16_support().reason == "CPU has AVX512-BF16"


def test_should_pick_float32_where_bfloat16_would_be_emulated(monkeypatch, caplog):
    fake_cpu(monkeypatch, NO_AVX512)
    with caplog.at_level(logging.INFO, logger=precision.log.name):
        assert pick_dtype("auto", CPU, {}) is torch.float32
    assert "dtype auto: float32 (no AMX/AVX512-BF16: bfloat16 would be emulated" in caplog.text


def test_should_pick_float32_when_torch_has_no_onednn_bfloat16_path(monkeypatch, caplog):
    fake_cpu(monkeypatch, AMX, onednn_bf16=False)
    with caplog.at_level(logging.INFO, logger=precision.log.name):
        assert pick_dtype("auto", CPU, {}) is torch.float32
    assert "no oneDNN bfloat16 path" in caplog.text


def test_should_ignore_the_models_own_dtype_on_cpu(monkeypatch):
    fake_cpu(monkeypatch, NO_AVX512)
    assert pick_dtype("auto", CPU, {"torch_dtype": "bfloat16"}) is torch.float32


@pytest.mark.parametrize("capabilities", [AMX, NO_AVX512])
@pytest.mark.parametrize("requested", ["float32", "float16", "bfloat16"])
def test_should_honour_an_explicit_dtype_whatever_the_cpu(monkeypatch, capabilities, requested):
    fake_cpu(monkeypatch, capabilities)
    assert pick_dtype(requested, CPU, {}) is getattr(torch, requested)
    assert pick_dtype(requested, CUDA, {"torch_dtype": "float32"}) is getattr(torch, requested)


@pytest.mark.parametrize("capabilities", [AMX, NO_AVX512])
@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"torch_dtype": "bfloat16"}, torch.bfloat16),
        ({"dtype": "float16"}, torch.float16),
        ({"torch_dtype": "float32"}, torch.float16),
        ({}, torch.float16),
    ],
)
def test_should_keep_the_gpu_rule_whatever_the_cpu(monkeypatch, capabilities, config, expected):
    fake_cpu(monkeypatch, capabilities)
    assert pick_dtype("auto", CUDA, config) is expected


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "native"),
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_should_read_the_older_torch_helpers_without_get_capabilities(monkeypatch, amx, avx512_bf16, native):
    # torch 2.11 (the GPU machine's) has no torch.cpu.get_capabilities.
    monkeypatch.delattr(torch.cpu, "get_capabilities", raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(precision, "_onednn_takes_bf16", lambda: True)
    assert cpu_bf16_support().native is native


def test_should_fall_back_to_float32_when_torch_cannot_tell(monkeypatch):
    for name in ("get_capabilities", "_is_amx_tile_supported", "_is_avx512_bf16_supported"):
        monkeypatch.delattr(torch.cpu, name, raising=False)
    assert pick_dtype("auto", CPU, {}) is torch.float32


def test_should_probe_this_machines_cpu_without_error():
    support = cpu_bf16_support()
    assert isinstance(support.native, bool)
    assert support.reason
    assert isinstance(precision._onednn_takes_bf16(), bool)


def test_should_load_the_model_in_the_dtype_auto_picked(monkeypatch, tiny_cross_encoder_dir):
    monkeypatch.setattr(precision, "cpu_bf16_support", lambda: Bf16Support(True, "CPU has AMX"))

    async def main():
        settings = Settings(backend="torch", device="cpu", model_id=str(tiny_cross_encoder_dir))
        engine = TorchEngine(settings, resolve_model(settings))
        await engine.start()
        try:
            return engine._model.dtype
        finally:
            await engine.stop()

    assert asyncio.run(main()) is torch.bfloat16


@pytest.mark.parametrize(("capabilities", "expected"), [(AMX, "bfloat16"), (NO_AVX512, "float32")])
def test_should_give_vllm_on_cpu_the_same_auto_rule(monkeypatch, capabilities, expected):
    fake_cpu(monkeypatch, capabilities)
    assert precision.vllm_dtype("auto", on_cpu=True) == expected


@pytest.mark.parametrize("requested", ["auto", "float16", "bfloat16", "float32"])
def test_should_leave_vllm_on_gpu_and_explicit_values_alone(monkeypatch, requested):
    fake_cpu(monkeypatch, AMX)
    assert precision.vllm_dtype(requested, on_cpu=False) == requested
    if requested != "auto":
        assert precision.vllm_dtype(requested, on_cpu=True) == requested


@pytest.mark.slow  # starts Python processes
def test_fake_amx_makes_every_process_pick_bfloat16():
    """tests/fake_amx (make test-fake-amx) must reach a fresh interpreter, as a server started by
    a test is one."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    probe = (
        "import torch; from reranker.engine.precision import cpu_bf16_support, pick_dtype; "
        "print(cpu_bf16_support().reason, pick_dtype('auto', torch.device('cpu'), {}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "tests" / "fake_amx"), str(root / "serving")])}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["CPU", "has", "AMX", "torch.bfloat16"]
