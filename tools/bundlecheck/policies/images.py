"""Images must be pinned: the same manifests must always run the same code."""

from __future__ import annotations

from collections.abc import Iterator

from ..kserve.workloads import raw_containers
from .base import Context, Violation, policy


def image_tag(image: str) -> str | None:
    """The tag of ``registry:5000/repo/name:tag`` (None without one; a registry port is no tag)."""
    name = image.split("@", 1)[0]
    last_part = name.rsplit("/", 1)[-1]
    return last_part.split(":", 1)[1] if ":" in last_part else None


def is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    tag = image_tag(image)
    return bool(tag) and tag != "latest"


@policy(
    "image-pinned",
    "an image without a tag or with :latest changes under a running bundle; pin a tag or digest",
)
def check_image_pinned(context: Context) -> Iterator[Violation]:
    for container in raw_containers(context.objects):
        image = container.spec.get("image")
        if isinstance(image, str) and not is_pinned(image):
            yield Violation(
                container.obj,
                [*container.path, "image"],
                f"image {image!r} is not pinned: give it a version tag (not latest) or a digest",
            )
