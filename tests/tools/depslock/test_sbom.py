"""sbom.py: the release's CycloneDX document lists exactly a lock's packages, with their hashes."""

from __future__ import annotations

import json

import pytest
from depslock import sbom
from depslock.locks import IMAGE_LOCKS, pins


@pytest.mark.parametrize("name", sorted(IMAGE_LOCKS))
def test_the_sbom_should_list_exactly_the_locked_packages(name, tmp_path):
    from depslock.__main__ import main

    lock = IMAGE_LOCKS[name]
    assert main(["sbom", name, "-o", str(tmp_path / "sbom.json")]) == 0
    document = json.loads((tmp_path / "sbom.json").read_text())
    listed = {c["name"]: c["version"] for c in document["components"]}
    assert listed == {**pins(lock.path), **sbom.lock_apart(lock)}
    assert document["bomFormat"] == "CycloneDX" and document["metadata"]["component"]["name"] == "kserve-reranker"
    hashed = {c["name"] for c in document["components"] if c.get("hashes")}
    assert hashed == set(pins(lock.path)), "every locked package with its hashes"
