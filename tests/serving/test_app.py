"""The app (app.py): it answers at once and loads the model in the background, reports a load that
failed, times a warm-up batch for admission control, and serves its docs unless told not to."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from reranker.api.admission import work_of
from reranker.app import _WARM_UP_PAIRS, create_app
from reranker.config import Settings
from tests.support.app import assert_error, wait_ready
from tests.support.fake_engine import FakeEngine


def loader(engine: FakeEngine):
    async def load():
        return engine

    return load


def client_for(**settings) -> TestClient:
    return TestClient(create_app(Settings(**settings), loader(FakeEngine())))


def test_should_report_a_failed_load_and_call_back(tiny_cross_encoder_dir):
    settings = Settings(backend="torch", model_id=str(tiny_cross_encoder_dir))
    failures = []

    async def broken():
        raise RuntimeError("weights are corrupt\nsecond line")

    with TestClient(create_app(settings, broken, on_load_failure=failures.append)) as client:
        for _ in range(100):
            if failures:
                break
            time.sleep(0.01)
        assert failures == ["weights are corrupt"]
        assert_error(client.get("/v2/health/ready"), 503, r"failed to load: weights are corrupt")


def test_should_calibrate_admission_with_a_timed_warm_up_batch():
    engine = FakeEngine(delay=0.05)
    app = create_app(Settings(), loader(engine))
    with TestClient(app) as client:
        wait_ready(client)
        rate = app.state.server.admission.work_per_second
        assert engine.finished_calls == 2  # a first run, then the timed one
        assert rate is not None and 0 < rate <= work_of(_WARM_UP_PAIRS, None) / 0.05


def test_should_serve_no_docs_when_disabled():
    with client_for(disable_docs=True) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert_error(client.get(path), 404, "Not Found")
    with client_for() as client:
        assert client.get("/openapi.json").status_code == 200
