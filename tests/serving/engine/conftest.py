"""Fixtures the engine tests share."""

from __future__ import annotations

import pytest

from tests.support.tiny_models import (
    build_tiny_cross_encoder,
    build_tiny_modernbert_cross_encoder,
    build_tiny_qwen3_reranker,
    build_tiny_qwen3_seq_cls,
    build_tiny_xlm_roberta_cross_encoder,
)


@pytest.fixture(scope="module")
def family_models(tmp_path_factory):
    """A tiny model of each architecture the torch engine packs (and ModernBERT, which it does
    not), by family; built once per module that asks."""
    root = tmp_path_factory.mktemp("packing")
    qwen3 = build_tiny_qwen3_reranker(root / "qwen3")
    return {
        "bert": build_tiny_cross_encoder(root / "bert"),
        "xlm-roberta": build_tiny_xlm_roberta_cross_encoder(root / "xlmr"),
        "qwen3-causal": qwen3,
        "qwen3-seq-cls": build_tiny_qwen3_seq_cls(root / "qwen3-seq-cls", qwen3),
        "modernbert": build_tiny_modernbert_cross_encoder(root / "modernbert"),
    }
