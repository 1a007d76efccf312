"""``python scripts/build_image.py``: build the serving images with podman or docker.

By default the build uses the package sources of this machine's pip (index, mirrors, wheel
directories, CA bundle), so a machine whose pip works behind a proxy or mirror builds the
image the same way. Each built tag is printed with its build time and size.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .build import (
    DEBIAN_BASE_IMAGE,
    DEFAULT_BASE_IMAGE,
    TORCH_CPU_INDEX,
    BuildOptions,
    PipSources,
    build,
    dockerfile_arg,
    host_pip_sources,
    make_debian_base,
    torch_index_for,
)
from .container_engine import ContainerEngineError, find_engine

TARGETS = ("gpu", "cpu")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build_image.py",
        description="Build targets of serving/Dockerfile as REPO:VERSION-TARGET with podman or docker.",
    )
    p.add_argument("--target", action="append", choices=TARGETS, help="target to build (repeat; default: both)")
    p.add_argument("--repo", default="ghcr.io/example/kserve-reranker", help="image repository (default: %(default)s)")
    p.add_argument("--version", default="0.1.0", help="version: the tag is VERSION-TARGET (default: %(default)s)")
    p.add_argument(
        "--engine", default=os.environ.get("CONTAINER_ENGINE"), help="podman or docker (default: the first that works)"
    )
    p.add_argument(
        "--base-image",
        default=DEFAULT_BASE_IMAGE,
        help=f"base image (default: %(default)s); 'debian' makes {DEBIAN_BASE_IMAGE} from Debian's "
        "packages with mmdebstrap, for builders that reach no image registry",
    )
    p.add_argument(
        "--torch-index-url",
        default="auto",
        help=f"index of the CPU torch wheel; '' takes it from the pip sources; auto (default): "
        f"{TORCH_CPU_INDEX}, or '' when the pip sources' wheel directories hold that wheel",
    )
    p.add_argument(
        "--pip-sources",
        choices=("host", "none"),
        default="host",
        help="host (default): hand this machine's pip index, mirrors, wheel directories and CA bundle "
        "to the build; none: the Dockerfile's defaults",
    )
    p.add_argument("--pip-conf", help="a pip.conf handed to the build as a secret (index credentials)")
    p.add_argument("--no-cache", action="store_true", help="rebuild every layer (a release, or a timing)")
    p.add_argument(
        "--log-dir", type=Path, default=Path("build"), help="where each target's build log goes (default: %(default)s)"
    )
    p.add_argument(
        "--print-torch-index",
        action="store_true",
        help="print the CPU torch index --torch-index-url gives (empty: the pip sources) and exit; "
        "make resolves TORCH_INDEX=auto with it",
    )
    return p


def pip_sources(choice: str) -> PipSources:
    return host_pip_sources() if choice == "host" else PipSources()


def torch_index(requested: str, sources: PipSources) -> str:
    """``--torch-index-url``'s value, with auto resolved against the pip sources."""
    if requested == "auto":
        return torch_index_for(sources, dockerfile_arg("TORCH_VERSION"))
    return requested


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.print_torch_index:
        print(torch_index(args.torch_index_url, pip_sources(args.pip_sources)))
        return 0
    engine, missing = find_engine(args.engine)
    if engine is None:
        print(f"build_image.py: {missing}", file=sys.stderr)
        return 2
    sources = pip_sources(args.pip_sources)
    base = args.base_image
    try:
        if base == "debian":
            base = DEBIAN_BASE_IMAGE if engine.has_image(DEBIAN_BASE_IMAGE) else make_debian_base(engine)
        args.log_dir.mkdir(parents=True, exist_ok=True)
        options = BuildOptions(
            base_image=base,
            torch_index_url=torch_index(args.torch_index_url, sources),
            version=args.version,
            sources=sources,
            pip_conf=args.pip_conf,
            extra_args=["--no-cache"] if args.no_cache else [],
        )
        for target in args.target or TARGETS:
            tag = f"{args.repo}:{args.version}-{target}"
            result = build(engine, target, tag, options, args.log_dir / f"image-{target}.log")
            print(f"{tag}: built with {engine.name} in {result.seconds:.0f} s, {result.size_bytes / 1e6:.0f} MB")
    except (ContainerEngineError, RuntimeError) as error:
        print(f"build_image.py: {error}", file=sys.stderr)
        return 1
    for reason in sources.skipped:
        print(f"note: pip source not used: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
