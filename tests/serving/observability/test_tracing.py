"""Traces over OTLP (observability/tracing.py): without an endpoint no OpenTelemetry exporter or SDK
is even imported; with one, the exporter of the protocol the environment names.
tests/serving/process/test_otlp_export.py exports a real server's spans to a real receiver."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_should_import_no_opentelemetry_sdk_or_exporter_without_an_endpoint():
    script = """
import asyncio, sys
from fastapi.testclient import TestClient
from reranker.app import create_app
from reranker.config import Settings
from tests.support.fake_engine import FakeEngine

async def load():
    return FakeEngine()

with TestClient(create_app(Settings(), load)) as client:
    while client.get("/v2/health/ready").status_code != 200:
        pass
    assert client.post("/openai/v1/rerank", json={"query": "q", "documents": ["a"]}).status_code == 200
print(sorted(m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter"))))
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("protocol", "module"),
    [
        ("grpc", "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"),
        ("http/protobuf", "opentelemetry.exporter.otlp.proto.http.trace_exporter"),
    ],
)
def test_should_export_over_the_protocol_the_environment_names(protocol, module):
    script = f"""
import sys
from reranker.observability import tracing
env = {{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "{protocol}"}}
assert tracing.set_up(None, env)
print(sorted(m for m in sys.modules if m.startswith("opentelemetry.exporter.") and m.endswith("trace_exporter")))
tracing.shut_down()
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[0] == str([module])


def test_should_refuse_an_unknown_protocol():
    from reranker.observability import tracing

    with pytest.raises(ValueError, match="http/json"):
        tracing.set_up(
            None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )
    assert not tracing.enabled()
