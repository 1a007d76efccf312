"""NVIDIA GPUs in Kubernetes objects: the extended resource a container requests, the label GPU
Feature Discovery gives each GPU node (the card's product name), and the taint of GPU node pools."""

from __future__ import annotations

from typing import Any

GPU_RESOURCE = "nvidia.com/gpu"
# GPU Feature Discovery's label with the card's product name (NVIDIA-A100-SXM4-40GB ...).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_TAINT_KEY = "nvidia.com/gpu"
# The products GPU Feature Discovery names for variants of one card (an overlay selects one of
# them; its gpu_node_patch.yaml names the others it also fits).
CARD_VARIANTS = (
    ("NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe", "NVIDIA-H100-NVL"),
    ("NVIDIA-A100-SXM4-40GB", "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-PCIE-40GB", "NVIDIA-A100-80GB-PCIe"),
)


def requests_gpu(container: dict[str, Any]) -> bool:
    resources = container.get("resources") or {}
    return any((resources.get(kind) or {}).get(GPU_RESOURCE) not in (None, 0, "0") for kind in ("requests", "limits"))


def selected_gpu_product(pod_fields: dict[str, Any]) -> str | None:
    """The GPU product a pod's nodeSelector picks (None: it picks none by nodeSelector)."""
    return (pod_fields.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL)


def same_card(product: str | None, other: str | None) -> bool:
    """Whether two GPU Feature Discovery products are the same card (or variants of it)."""
    if product is None or other is None:
        return False
    return product == other or any(product in variants and other in variants for variants in CARD_VARIANTS)
