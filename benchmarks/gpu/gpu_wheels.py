#!/usr/bin/env python3
"""Fill the wheel folder that benchmarks/gpu/gpu-check.sh installs from on an air-gapped GPU machine.

Downloads the wheels pinned in benchmarks/gpu/gpu-wheels.txt without their dependencies (the machine has
torch, transformers and sentence-transformers; pip must never try to bring them), for the GPU
machine's Python (default 3.12, manylinux x86_64), builds this package's own wheel beside them,
and fails when the folder passes --limit-mib (what one call to the machine can carry).

    make gpu-wheels                                   # .whl/, for Python 3.12
    python benchmarks/gpu/gpu_wheels.py --dest /tmp/w --python-version here   # for this interpreter
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = Path(__file__).resolve().parent / "gpu-wheels.txt"
# pip matches manylinux tags exactly: name the ones these wheels are published for.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


def download(dest: Path, python_version: str) -> None:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--only-binary=:all:",
        "--no-deps",
        "--dest",
        str(dest),
        "--requirement",
        str(REQUIREMENTS),
    ]
    if python_version != "here":
        command += ["--python-version", python_version, "--implementation", "cp"]
        command += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    subprocess.run(command, check=True)


def build_own_wheel(dest: Path) -> None:
    # No build isolation: the build needs only setuptools, which the environment has (offline too).
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dest),
            str(ROOT),
        ],
        check=True,
    )


def total_mib(dest: Path) -> float:
    return sum(wheel.stat().st_size for wheel in dest.glob("*.whl")) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl", help="Wheel folder (default: .whl/).")
    parser.add_argument(
        "--python-version",
        default="3.12",
        help="The GPU machine's Python, X.Y, or 'here' for this interpreter (default: %(default)s).",
    )
    parser.add_argument("--limit-mib", type=float, default=64, help="Most MiB of wheels (default: %(default)s).")
    parser.add_argument("--no-own-wheel", action="store_true", help="Only the dependencies.")
    args = parser.parse_args(argv)

    args.dest.mkdir(parents=True, exist_ok=True)
    for stale in args.dest.glob("*.whl"):  # one version of each: two would stop the install
        stale.unlink()
    download(args.dest, args.python_version)
    if not args.no_own_wheel:
        build_own_wheel(args.dest)
    for wheel in sorted(args.dest.glob("*.whl")):
        print(f"{wheel.stat().st_size / 2**20:8.2f} MiB  {wheel.name}")
    size = total_mib(args.dest)
    print(f"{size:8.2f} MiB  total in {args.dest} (limit {args.limit_mib:g} MiB)")
    if size > args.limit_mib:
        print(f"gpu_wheels: {size:.1f} MiB is over the {args.limit_mib:g} MiB that can be carried", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
