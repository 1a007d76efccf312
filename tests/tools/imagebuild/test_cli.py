"""cli.py (scripts/build_image.py): the CPU torch index a build takes, printed for make, which
resolves TORCH_INDEX=auto with it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from imagebuild.build import TORCH_CPU_INDEX, dockerfile_arg

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    directory = tmp_path / "wheels"
    directory.mkdir()
    return directory


def pip_env(wheels: Path) -> dict[str, str]:
    """pip with no configuration file and ``wheels`` as its one wheel directory."""
    return {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_FIND_LINKS": str(wheels), "PYTHONPATH": "tools"}


def printed_index(wheels: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "imagebuild.cli", "--print-torch-index", *args],
        cwd=REPO,
        env=pip_env(wheels),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def test_should_print_the_pytorch_index_unless_a_wheel_directory_holds_the_cpu_wheel(wheels: Path) -> None:
    assert printed_index(wheels) == f"{TORCH_CPU_INDEX}\n"
    (wheels / f"torch-{dockerfile_arg('TORCH_VERSION')}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert printed_index(wheels) == "\n"
    assert printed_index(wheels, "--pip-sources", "none") == f"{TORCH_CPU_INDEX}\n"
    assert printed_index(wheels, "--torch-index-url", "https://mirror.internal/torch") == (
        "https://mirror.internal/torch\n"
    )


def test_make_should_resolve_torch_index_auto_with_the_image_builders_choice(wheels: Path) -> None:
    def used(**variables: str) -> str:
        done = subprocess.run(
            ["make", "-s", "--eval", 'print-torch-index: ; @echo "[$(TORCH_INDEX_USED)]"', "print-torch-index"],
            cwd=REPO,
            env={**pip_env(wheels), **variables},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout.strip()

    assert used() == f"[{TORCH_CPU_INDEX}]"
    (wheels / f"torch-{dockerfile_arg('TORCH_VERSION')}+cpu-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(b"")
    assert used() == "[]"
    assert used(TORCH_INDEX="https://mirror.internal/torch") == "[https://mirror.internal/torch]"
