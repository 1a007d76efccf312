"""The server's layers point one way: the app and the HTTP layer (app.py, server.py, cli.py,
api/) over the engine and observability, over config.py and metrics.py. A module may import its
own layer or one below it, never one above; and no code outside tests/ imports the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "serving" / "reranker"
# Higher numbers sit higher; the top-level modules are named by their file.
LAYERS = {"config": 0, "metrics": 0, "observability": 1, "engine": 2, "api": 3, "app": 4, "server": 5, "cli": 6}


def layer_of(parts: tuple[str, ...]) -> int | None:
    """The layer of a module given by its path inside the package (``("engine", "batcher")``)."""
    return LAYERS.get(parts[0]) if parts else None


def imported_modules(path: Path) -> list[tuple[str, ...]]:
    """The package-relative parts of every reranker module ``path`` imports (relative or absolute)."""
    here = path.relative_to(PACKAGE).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                target = base + tuple((node.module or "").split(".")) if node.module else base
                names = [target + (alias.name,) for alias in node.names] if not node.module else [target]
                found.extend(tuple(p for p in name if p) for name in names)
            elif node.module and node.module.split(".")[0] == "reranker":
                found.append(tuple(node.module.split(".")[1:]))
        elif isinstance(node, ast.Import):
            found.extend(tuple(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "reranker")
    return found


def upward_imports(path: Path) -> list[str]:
    own = layer_of(path.relative_to(PACKAGE).with_suffix("").parts)
    if own is None:
        return []
    return [
        ".".join(parts) for parts in imported_modules(path) if (layer := layer_of(parts)) is not None and layer > own
    ]


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_no_module_should_import_a_layer_above_its_own(path: Path):
    assert upward_imports(path) == []


def test_an_upward_import_should_be_found(tmp_path: Path, monkeypatch):
    observability = tmp_path / "observability"
    observability.mkdir()
    module = observability / "observe.py"
    module.write_text("from ..api.request_guards import CANCELLED\nfrom . import context\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", tmp_path)
    assert upward_imports(module) == ["api.request_guards"]


@pytest.mark.parametrize("folder", ["serving", "tools", "scripts", "benchmarks", "harness"])
def test_code_outside_the_tests_should_not_import_them(folder: str):
    importers = []
    for path in sorted((REPO / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(name == "tests" or name.startswith("tests.") for name in names):
                importers.append(str(path.relative_to(REPO)))
    assert importers == []
