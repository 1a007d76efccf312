"""Tests mirror the code: every module of the server (serving/reranker) and of the bundle's tools
(tools/) has a test file or folder named for it, in the mirrored folder of tests/ or below it
(tests/serving/engine/ for serving/reranker/engine/, tests/tools/bundlecheck/ for
tools/bundlecheck/), so that the next engineer finds a module's tests by its name."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Where each code root's tests live.
MIRRORS = {REPO / "serving" / "reranker": REPO / "tests" / "serving", REPO / "tools": REPO / "tests" / "tools"}
# Entry points with no logic of their own: they call a module that has its tests.
NOT_MODULES = {"__init__", "__main__"}


def modules() -> list[tuple[Path, Path]]:
    found = []
    for code_root, tests_root in MIRRORS.items():
        for module in sorted(code_root.rglob("*.py")):
            if module.stem in NOT_MODULES or "node_modules" in module.parts:
                continue
            found.append((module, tests_root / module.relative_to(code_root).parent))
    return found


def names(module_stem: str, folder: Path) -> bool:
    """Whether a test file (test_<stem>.py, test_<stem>_*.py) or a folder (<stem>/) in ``folder``
    or below it is named for the module."""
    if not folder.is_dir():
        return False
    for path in folder.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        if path.is_dir() and path.name == module_stem:
            return True
        if (
            path.is_file()
            and path.suffix == ".py"
            and (path.stem == f"test_{module_stem}" or path.stem.startswith(f"test_{module_stem}_"))
        ):
            return True
    return False


def has_tests(module: Path, mirrored: Path) -> bool:
    """The module's own name in its mirrored folder; for a module of a package whose mirrored
    folder does not exist (api/dialects/ tested as one), a test file named for the package."""
    if names(module.stem, mirrored):
        return True
    return not mirrored.is_dir() and names(mirrored.name, mirrored.parent)


@pytest.mark.parametrize("module,mirrored", modules(), ids=lambda value: str(value.relative_to(REPO)))
def test_every_module_should_have_a_test_named_for_it(module: Path, mirrored: Path):
    assert has_tests(module, mirrored), (
        f"{module.relative_to(REPO)} has no test named for it: add test_{module.stem}.py (or a folder "
        f"{module.stem}/) under {mirrored.relative_to(REPO)}/"
    )


def test_a_module_without_tests_should_be_found(tmp_path: Path):
    code = tmp_path / "code" / "engine"
    code.mkdir(parents=True)
    (code / "packing.py").write_text("")
    tests = tmp_path / "tests" / "engine"
    tests.mkdir(parents=True)
    (tests / "test_batcher.py").write_text("")
    assert not has_tests(code / "packing.py", tests)
    (tests / "test_packing_prefix.py").write_text("")
    assert has_tests(code / "packing.py", tests)
