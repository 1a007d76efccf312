"""nvidia.py: a container's GPU request, the GPU product a pod selects, and variants of one card."""

from __future__ import annotations

import pytest

from bundlecheck.nvidia import GPU_PRODUCT_LABEL, GPU_RESOURCE, requests_gpu, same_card, selected_gpu_product


@pytest.mark.parametrize(
    ("resources", "requests"),
    [
        ({"limits": {GPU_RESOURCE: "1"}}, True),
        ({"requests": {GPU_RESOURCE: 2}}, True),
        ({"requests": {GPU_RESOURCE: "0"}, "limits": {GPU_RESOURCE: 0}}, False),
        ({"requests": {"cpu": "1"}}, False),
        (None, False),
    ],
)
def test_should_tell_whether_a_container_requests_a_gpu(resources, requests: bool) -> None:
    assert requests_gpu({"name": "c", "resources": resources}) is requests


def test_should_read_the_gpu_product_a_pod_selects() -> None:
    assert selected_gpu_product({"nodeSelector": {GPU_PRODUCT_LABEL: "NVIDIA-L4"}}) == "NVIDIA-L4"
    assert selected_gpu_product({"nodeSelector": {"disk": "ssd"}}) is None
    assert selected_gpu_product({}) is None


@pytest.mark.parametrize(
    ("product", "other", "same"),
    [
        ("NVIDIA-H100-NVL", "NVIDIA-H100-80GB-HBM3", True),
        ("NVIDIA-A100-80GB-PCIe", "NVIDIA-A100-SXM4-40GB", True),
        ("NVIDIA-L4", "NVIDIA-L4", True),
        ("NVIDIA-A100-SXM4-80GB", "NVIDIA-H100-80GB-HBM3", False),
        ("NVIDIA-B200", "NVIDIA-H100-80GB-HBM3", False),
        (None, "NVIDIA-L4", False),
    ],
)
def test_should_count_variants_of_a_card_as_that_card(product, other, same: bool) -> None:
    assert same_card(product, other) is same
