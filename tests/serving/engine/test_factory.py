"""Choosing and starting the engine that --backend asks for (engine/factory.py): torch and vllm
as asked, auto preferring vLLM where it is installed and loads the model, else the torch engine."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

import pytest

from reranker.config import Settings
from reranker.engine import factory
from tests.support.fake_engine import FakeEngine

MODEL = SimpleNamespace(path="/mnt/models/reranker")


class NamedEngine(FakeEngine):
    def __init__(self, backend: str, fails: bool = False):
        super().__init__()
        self.backend, self.fails, self.started = backend, fails, False

    async def start(self) -> None:
        if self.fails:
            raise RuntimeError("no kernels for this model\nthe rest of vLLM's message")
        self.started = True


def engines_built(monkeypatch, vllm_installed: bool, vllm_fails: bool = False) -> list[NamedEngine]:
    """The engines ``start_engine`` builds, in order (fakes: no model is loaded)."""
    built: list[NamedEngine] = []

    def build(backend: str, fails: bool = False):
        def engine(settings, model):
            built.append(NamedEngine(backend, fails))
            return built[-1]

        return engine

    monkeypatch.setattr(factory, "vllm_installed", lambda: vllm_installed)
    monkeypatch.setattr(factory, "_torch_engine", build("torch"))
    monkeypatch.setattr(factory, "_vllm_engine", build("vllm", vllm_fails))
    return built


@pytest.mark.parametrize(
    ("backend", "installed", "vllm_fails", "expected"),
    [
        ("torch", True, False, ["torch"]),
        ("vllm", True, False, ["vllm"]),
        ("auto", True, False, ["vllm"]),
        ("auto", False, False, ["torch"]),
        ("auto", True, True, ["vllm", "torch"]),
    ],
)
def test_should_start_the_engine_the_backend_asks_for(monkeypatch, backend, installed, vllm_fails, expected):
    built = engines_built(monkeypatch, installed, vllm_fails)
    engine = asyncio.run(factory.start_engine(Settings(backend=backend), MODEL))
    assert [e.backend for e in built] == expected
    assert engine is built[-1] and engine.started


def test_auto_should_say_why_it_falls_back_to_the_torch_engine(monkeypatch, caplog):
    engines_built(monkeypatch, vllm_installed=True, vllm_fails=True)
    with caplog.at_level(logging.INFO, logger=factory.__name__):
        asyncio.run(factory.start_engine(Settings(backend="auto"), MODEL))
    assert "vLLM could not load the model (no kernels for this model); using the torch engine" in caplog.text


def test_should_refuse_vllm_before_listening_when_it_is_not_installed(monkeypatch):
    monkeypatch.setattr(factory, "vllm_installed", lambda: False)
    with pytest.raises(factory.BackendUnavailableError, match=r"--backend vllm: vLLM is not installed"):
        factory.check_backend(Settings(backend="vllm"))
    factory.check_backend(Settings(backend="auto"))  # auto falls back instead
    factory.check_backend(Settings(backend="torch"))
