"""The ``tokenizer`` fixture: the input tests run on every kind of tokenizer (sample_tokenizers.py)."""

from __future__ import annotations

import pytest

from tests.serving.engine.inputs.sample_tokenizers import (
    KINDS,
    byte_level_bpe,
    metaspace_unigram,
    minilm,
    python_byt5,
    whole_text_bpe,
)


@pytest.fixture(scope="package", params=KINDS)
def tokenizer(request, minilm_dir):
    """Each kind of tokenizer in turn (``KINDS``)."""
    builders = {
        "byte-level-bpe": byte_level_bpe,
        "metaspace-unigram": metaspace_unigram,
        "whole-text-bpe": whole_text_bpe,
        "python-byt5": python_byt5,
    }
    return minilm(minilm_dir) if request.param == "wordpiece" else builders[request.param]()
