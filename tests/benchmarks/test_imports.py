"""The benchmarks stand on their own and on harness/, never on the tests: they run where the tests
are not installed (the air-gapped GPU machine)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_benchmarks_should_import_nothing_from_the_tests():
    found = {
        str(path.relative_to(BENCHMARKS.parent)): sorted(n for n in _imported(path) if n.split(".")[0] == "tests")
        for path in sorted(BENCHMARKS.rglob("*.py"))
    }
    assert {path: names for path, names in found.items() if names} == {}
