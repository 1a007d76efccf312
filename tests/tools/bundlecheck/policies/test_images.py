"""policies/images.py: image-pinned, and what counts as a pinned image."""

from __future__ import annotations

import pytest

from bundlecheck.policies.images import is_pinned


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("ghcr.io/example/kserve-reranker:0.1.0-cpu", True),
        ("kserve/storage-initializer@sha256:" + "a" * 64, True),
        ("registry.local:5000/reranker", False),  # a registry port is not a tag
        ("kserve/storage-initializer:latest", False),
        ("kserve/storage-initializer", False),
    ],
)
def test_image_pinning(image: str, pinned: bool) -> None:
    assert is_pinned(image) is pinned
